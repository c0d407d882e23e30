package host

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/internal/testkit/memstore"
)

// TestStoreBackendFromFixture: a backend registered by a test fixture
// package (one registration) is chosen by a config file's [cache]
// backend and keeps the token a real plugin process got through the host;
// a second host over the same config answers from it without the plugin.
func TestStoreBackendFromFixture(t *testing.T) {
	dir, _ := fakePlugin(t)
	name := t.Name()
	f := writeConfig(t, dir, profile("ok", "")+"\n[cache]\nbackend = \"memstore\"\n[cache.memstore]\nname = \""+name+"\"\n")
	st, err := OpenStore(context.Background(), f, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if st.Backend != "memstore" || st.Location != "memstore "+name {
		t.Fatalf("store %q at %q", st.Backend, st.Location)
	}
	h := New(f, &Options{PluginDirs: []string{dir}, Store: st})
	t.Cleanup(func() { _ = h.Close() })
	tok, err := token(t, h, context.Background())
	if err != nil || tok.AccessToken.Reveal() != "fake-token" {
		t.Fatalf("token %+v, %v", tok, err)
	}
	if memstore.Get(name).Len() == 0 {
		t.Fatal("the token did not reach the fixture's store")
	}

	// No plugin dir: only the store can answer.
	again, err := OpenStore(context.Background(), f, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	h2 := New(f, &Options{PluginDirs: []string{t.TempDir()}, Store: again})
	t.Cleanup(func() { _ = h2.Close() })
	if tok, err := token(t, h2, context.Background()); err != nil || tok.AccessToken.Reveal() != "fake-token" {
		t.Fatalf("from the store: %+v, %v", tok, err)
	}
}

// TestOpenStoreSettingErrors: what the registry's generic decoding
// reports names the table, the key and what to do.
func TestOpenStoreSettingErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, cache, want string }{
		{"missing required", "[cache]\nbackend = \"memstore\"\n", "cache.memstore.name: the memstore backend needs name: set it in [cache.memstore]"},
		{"a key the environment may supply", "[cache]\nbackend = \"redis\"\n[cache.redis]\nurl = \"redis://127.0.0.1:1\"\n", "cache.redis.key: the redis backend needs key: set it in [cache.redis] or $CREDHOST_CACHE_KEY"},
		{"an unresolvable secret", "[cache.file]\nkey = \"env:NO_SUCH_VARIABLE_HERE\"\n", "cache.file.key: cannot read the secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.toml")
			f, err := config.Parse(path, []byte(profile("ok", "")+"\n"+tt.cache))
			if err == nil {
				_, err = OpenStore(context.Background(), f, func(string) string { return "" }, zerolog.Nop())
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// $CREDHOST_CACHE_KEY overrides the file's key and beats its passphrase.
	f, err := config.Parse(filepath.Join(dir, "c.toml"), []byte(profile("ok", "")+"\n[cache.file]\npath = \"tokens.bin\"\npassphrase = \"env:NO_SUCH_VARIABLE_HERE\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(context.Background(), f, func(k string) string {
		if k == config.EnvCacheKey {
			return strings.Repeat("ab", 32)
		}
		return ""
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Location != filepath.Join(dir, "tokens.bin") {
		t.Errorf("location %q: a relative path is relative to the config file", st.Location)
	}
}
