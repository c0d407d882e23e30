package store

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/credhost/credhost/core"
)

type testSettings struct {
	URL     string        `toml:"url" store:"required"`
	Dir     string        `toml:"dir" store:"path"`
	Key     core.Secret   `toml:"key" store:"secret,env=TEST_KEY"`
	Phrase  core.Secret   `toml:"phrase" store:"secret,excludes=key"`
	Shards  int           `toml:"shards"`
	TLS     bool          `toml:"tls"`
	TTL     time.Duration `toml:"ttl"`
	Label   string        `toml:"label" store:"project"`
	Ignored string
}

func input(values map[string]string, env map[string]string) Input {
	in := Input{Backend: "t", Values: map[string]Value{}, Dir: "/etc/app", Getenv: func(k string) string { return env[k] }}
	for k, v := range values {
		in.Values[k] = Value{Raw: v, Origin: "c.toml:1:1"}
	}
	in.Resolve = func(key string) (core.Secret, error) {
		if raw := in.Values[key].Raw; strings.HasPrefix(raw, "env:") {
			return core.NewSecret("resolved-" + raw[4:]), nil
		}
		return core.NewSecret(in.Values[key].Raw), nil
	}
	return in
}

// TestDecodeByTags: every tag does what the registry's doc says.
func TestDecodeByTags(t *testing.T) {
	s, err := Decode[testSettings](input(map[string]string{"url": "u", "dir": "data", "key": "env:K", "shards": "3", "tls": "true", "ttl": "1m", "label": "l"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.URL != "u" || s.Dir != filepath.Join("/etc/app", "data") || s.Key.Reveal() != "resolved-K" || s.Shards != 3 || !s.TLS || s.TTL != time.Minute || s.Label != "l" {
		t.Fatalf("decoded %+v", s)
	}
	// The environment overrides the file, and the setting excluding the
	// overridden one gives way.
	s, err = Decode[testSettings](input(map[string]string{"url": "u", "key": "env:K", "phrase": "p"}, map[string]string{"TEST_KEY": "from-env"}))
	if err != nil || s.Key.Reveal() != "from-env" || !s.Phrase.IsZero() {
		t.Fatalf("decoded %+v, %v", s, err)
	}

	tests := []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"required", map[string]string{}, "cache.t.url: the t backend needs url: set it in [cache.t]"},
		{"excludes", map[string]string{"url": "u", "key": "k", "phrase": "p"}, "c.toml:1:1: cache.t.phrase: set key or phrase, not both"},
		{"int", map[string]string{"url": "u", "shards": "many"}, `cache.t.shards: invalid number "many"`},
		{"bool", map[string]string{"url": "u", "tls": "yes please"}, `cache.t.tls: invalid boolean`},
		{"duration", map[string]string{"url": "u", "ttl": "1 minute"}, `cache.t.ttl: invalid duration`},
	}
	for _, tt := range tests {
		_, err := Decode[testSettings](input(tt.values, nil))
		var se *SettingError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want a SettingError with %q", tt.name, err, tt.want)
		}
	}
}

// TestRegistry: a registered backend is found, lists its settings with
// their tags, and opens through the generic decoding; bad registrations
// panic at init.
func TestRegistry(t *testing.T) {
	var got testSettings
	Register(Backend[testSettings]{Name: "registry-test", Open: func(_ context.Context, s testSettings, _ OpenOptions) (Opened, error) {
		got = s
		return Opened{Store: &core.MemoryCache{}, Location: "here"}, nil
	}})
	b, ok := Lookup("registry-test")
	if !ok || !strings.Contains(strings.Join(Names(), ","), "registry-test") {
		t.Fatalf("not registered: %v", Names())
	}
	if s, ok := b.Setting("key"); !ok || !s.Secret || s.Env != "TEST_KEY" || s.Path {
		t.Errorf("key setting %+v", s)
	}
	if s, _ := b.Setting("label"); !s.Project {
		t.Errorf("label setting %+v", s)
	}
	if strings.Join(b.Keys(), ",") != "url,dir,key,phrase,shards,tls,ttl,label" {
		t.Errorf("keys %v", b.Keys())
	}
	o, err := b.Open(context.Background(), input(map[string]string{"url": "u"}, nil), OpenOptions{})
	if err != nil || o.Location != "here" || got.URL != "u" {
		t.Fatalf("open: %+v, %v, %+v", o, err, got)
	}
	if _, err := b.Open(context.Background(), input(nil, nil), OpenOptions{}); err == nil || !strings.Contains(err.Error(), "cache.registry-test.url") {
		t.Errorf("open without url: %v", err)
	}

	open := func(context.Context, struct{}, OpenOptions) (Opened, error) { return Opened{}, nil }
	for name, register := range map[string]func(){
		"twice":      func() { Register(Backend[struct{}]{Name: "registry-test", Open: open}) },
		"upper case": func() { Register(Backend[struct{}]{Name: "Mine", Open: open}) },
		"a dot":      func() { Register(Backend[struct{}]{Name: "mi.ne", Open: open}) },
		"no open":    func() { Register(Backend[struct{}]{Name: "mine"}) },
		"bad tag": func() {
			Register(Backend[struct {
				K string `toml:"k" store:"sekret"`
			}]{Name: "mine"})
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: registered", name)
				}
			}()
			register()
		}()
	}
	for name, typ := range map[string]reflect.Type{
		"secret not Secret": reflect.TypeFor[struct {
			K string `toml:"k" store:"secret"`
		}](),
		"Secret not secret": reflect.TypeFor[struct {
			K core.Secret `toml:"k"`
		}](),
		"project secret": reflect.TypeFor[struct {
			K core.Secret `toml:"k" store:"secret,project"`
		}](),
		"project path": reflect.TypeFor[struct {
			K string `toml:"k" store:"path,project"`
		}](),
		"unknown tag": reflect.TypeFor[struct {
			K string `toml:"k" store:"sekret"`
		}](),
		"excludes nothing": reflect.TypeFor[struct {
			K string `toml:"k" store:"excludes=j"`
		}](),
		"float": reflect.TypeFor[struct {
			K float64 `toml:"k"`
		}](),
		"not a struct": reflect.TypeFor[string](),
	} {
		if _, err := settingsOf(typ); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, ok := Lookup("mine"); ok {
		t.Error("a refused backend is registered")
	}
}
