package redis

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
	"github.com/credhost/credhost/internal/testkit/redistest"
)

// TestBackendOpensFromSettings: the registered backend opens a TLS Redis
// from a [cache.redis] table (a CA file relative to the config file, the
// key from a reference), and says where without a password.
func TestBackendOpensFromSettings(t *testing.T) {
	srv := redistest.StartTLS(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), srv.CA(), 0o600); err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	b, ok := store.Lookup(Name)
	if !ok {
		t.Fatal("redis is not registered")
	}
	in := func(values map[string]string) store.Input {
		in := store.Input{Values: map[string]store.Value{}, Dir: dir, Resolve: func(string) (core.Secret, error) { return key, nil }}
		for k, v := range values {
			in.Values[k] = store.Value{Raw: v, Origin: "c.toml:2:1"}
		}
		return in
	}
	o, err := b.Open(context.Background(), in(map[string]string{"url": srv.URL(), "key": "env:K", "ca_file": "ca.pem", "prefix": "app:"}), store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Store.Close()
	if !strings.HasSuffix(o.Location, " prefix app:") || !strings.HasPrefix(o.Location, "rediss://") {
		t.Errorf("location %q", o.Location)
	}
	if l := location("rediss://app:pw@cache.internal:6380/0", ""); l != "rediss://cache.internal:6380/0 prefix "+DefaultPrefix {
		t.Errorf("location %q: want no user or password, and the default prefix", l)
	}
	v, err := o.Store.Save(context.Background(), "k", core.Blob{Data: []byte("x")})
	if got, _ := o.Store.Load(context.Background(), "k"); err != nil || got.Version != v || string(got.Data) != "x" {
		t.Fatalf("save %v, load %+v", err, got)
	}

	_, err = b.Open(context.Background(), in(map[string]string{"url": srv.URL(), "key": "k", "ca_file": "missing.pem"}), store.OpenOptions{})
	var se *store.SettingError
	if !errors.As(err, &se) || se.Key != "ca_file" {
		t.Errorf("a missing CA file: %v", err)
	}
}
