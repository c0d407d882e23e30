package host

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store/memory"
)

// closeCounter is a store that counts Close calls: a store the program
// gave must outlive the Session.
type closeCounter struct {
	core.MemoryCache
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// TestOpen: the open sequence the CLI and sdk/client share. Config and
// profile problems are *ConfigError (the CLI's exit code 2); a store the
// caller gives is used and left open; the profile is chosen as
// SelectProfile does, or with AnyProfile only when named.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	user := filepath.Join(dir, "xdg", "credhost", "config.toml")
	write(t, user, loadUser+"[cache]\nbackend = \"memory\"\n")
	env := testEnv(dir, map[string]string{"CI": "true"})

	for _, tt := range []struct {
		name    string
		opts    OpenOptions
		profile string // want
		cfgErr  string // want a *ConfigError containing this
	}{
		{name: "match rules choose", profile: "ci"},
		{name: "named", opts: OpenOptions{Profile: "legacy"}, profile: "legacy"},
		{name: "unknown profile", opts: OpenOptions{Profile: "nope"}, cfgErr: `no such profile "nope"`},
		{name: "any profile, none named", opts: OpenOptions{AnyProfile: true}, profile: ""},
		{name: "any profile, unknown named", opts: OpenOptions{AnyProfile: true, Profile: "nope"}, cfgErr: `no such profile "nope"`},
		{name: "missing config file", opts: OpenOptions{ConfigPath: filepath.Join(dir, "nope.toml")}, cfgErr: "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Getenv, o.Log = env, zerolog.Nop()
			s, err := Open(t.Context(), &o)
			var ce *ConfigError
			if tt.cfgErr != "" {
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.cfgErr) {
					t.Fatalf("err = %v (%T), want a *ConfigError with %q", err, err, tt.cfgErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Profile != tt.profile || s.Store.Backend != memory.Name || s.File.Profiles["ci"] == nil {
				t.Fatalf("profile %q backend %q, want %q on the memory store", s.Profile, s.Store.Backend, tt.profile)
			}
		})
	}

	t.Run("a given store stays open", func(t *testing.T) {
		st := &closeCounter{}
		file, err := LoadConfig("", env)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), &OpenOptions{Config: file, Profile: "ci", Store: st, Getenv: env, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		if s.Store.Store != st {
			t.Fatal("the session does not use the given store")
		}
		if err := s.Close(); err != nil || st.closed != 0 {
			t.Fatalf("Close: %v, store closed %d times, want 0", err, st.closed)
		}
	})
}
