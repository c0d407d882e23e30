package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const canary = "hunter2-canary"

func TestResolveSecret(t *testing.T) {
	base := t.TempDir()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home) // os.UserHomeDir on Windows
	write := func(dir, name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(base, "secret.txt", canary+"\n")
	write(base, "crlf.txt", canary+"\r\n")
	write(base, "empty.txt", "")
	write(base, "newlines.txt", "\n\n")
	abs := write(t.TempDir(), "abs.txt", canary)
	write(home, "home.txt", canary+"\n")

	origin := Origin{File: "c.toml", Line: 9, Col: 1}
	getenv := envMap(map[string]string{"CI_SECRET": canary, "EMPTY": ""})
	tests := []struct {
		name string
		raw  string
		list []string
		want string   // the secret; "" when an error is expected
		err  []string // substrings of the error
	}{
		{name: "inline", raw: canary, want: canary},
		{name: "inline is not trimmed", raw: canary + "\n", want: canary + "\n"},
		{name: "env", raw: "env:CI_SECRET", want: canary},
		{name: "env unset", raw: "env:NOPE", err: []string{"c.toml:9:1", "NOPE", "not set"}},
		{name: "env empty", raw: "env:EMPTY", err: []string{"c.toml:9:1", "EMPTY", "empty"}},
		{name: "env without name", raw: "env:", err: []string{"c.toml:9:1", "variable name"}},
		{name: "secret pasted after env:", raw: "env:" + canary + "/x+y=", err: []string{"variable name"}},
		{name: "file relative to the config", raw: "file:secret.txt", want: canary},
		{name: "file with CRLF", raw: "file:crlf.txt", want: canary},
		{name: "file absolute", raw: "file:" + abs, want: canary},
		{name: "file in home", raw: "file:~/home.txt", want: canary},
		{name: "file missing", raw: "file:nope.txt", err: []string{"c.toml:9:1", filepath.Join(base, "nope.txt"), "no such file"}},
		{name: "file empty", raw: "file:empty.txt", err: []string{"c.toml:9:1", filepath.Join(base, "empty.txt"), "is empty"}},
		{name: "file of newlines", raw: "file:newlines.txt", err: []string{filepath.Join(base, "newlines.txt"), "nothing but newlines"}},
		{name: "file without path", raw: "file:", err: []string{"names no file"}},
		{name: "empty", raw: "", err: []string{"c.toml:9:1", "empty"}},
		{name: "array", list: []string{canary}, err: []string{"c.toml:9:1", "got an array"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ResolveSecret(Value{Raw: tt.raw, List: tt.list, Origin: origin}, getenv, base)
			if tt.err == nil {
				if err != nil || s.Reveal() != tt.want {
					t.Fatalf("got %q, %v; want %q", s.Reveal(), err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; got a secret of %d bytes", len(s.Reveal()))
			}
			var e *Error
			if !errors.As(err, &e) || e.Origin != origin {
				t.Errorf("error %T %v is not an *Error at the value", err, err)
			}
			for _, w := range tt.err {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error text leaks the secret: %q", err)
			}
		})
	}
}

func TestResolveSecretMissingFileIsNotExist(t *testing.T) {
	_, err := ResolveSecret(Value{Raw: "file:/nonexistent/credhost/secret"}, nil, "")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%v does not wrap fs.ErrNotExist", err)
	}
}

func TestResolveSecretNilEnvIsOS(t *testing.T) {
	t.Setenv("CREDHOST_TEST_SECRET", canary)
	s, err := ResolveSecret(Value{Raw: "env:CREDHOST_TEST_SECRET"}, nil, "")
	if err != nil || s.Reveal() != canary {
		t.Fatalf("got %q, %v", s.Reveal(), err)
	}
}

func TestResolveBytes(t *testing.T) {
	dir := t.TempDir()
	pfx := []byte{0x30, 0x82, 0x00, '\n', 0xff, '\n'} // binary, ends in a newline
	if err := os.WriteFile(filepath.Join(dir, "app.pfx"), pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		raw  string
		want string
	}{
		{"file:app.pfx", string(pfx)},
		{"env:CERT", "-----BEGIN CERTIFICATE-----\n"},
		{"inline\n", "inline\n"},
	}
	for _, tt := range tests {
		b, err := ResolveBytes(Value{Raw: tt.raw}, envMap(map[string]string{"CERT": "-----BEGIN CERTIFICATE-----\n"}), dir)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.raw, b, err, tt.want)
		}
	}
	if _, err := ResolveBytes(Value{Raw: "file:missing.pfx"}, nil, dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing.pfx")) {
		t.Errorf("missing file: %v", err)
	}
}

// TestSecretCanary plants a secret in every kind of bad setting and checks
// that no error text shows it.
func TestSecretCanary(t *testing.T) {
	docs := []string{
		`[profiles.ci]
authority = "https://user:` + canary + `@login.microsoftonline.com/t"
client_id = "c"
chain = ["clientcreds"]
client_secret = "` + canary + `"
[profiles.ci.clientcreds]
client_secret = ["` + canary + `", 1]
password = { v = "` + canary + `" }
[profiles.ci.clientcreds.x]
y = "` + canary + `"
`,
		"[profiles.ci.clientcreds]\nclient_secret = \"" + canary + "\" x\n",
		"[profiles.ci.clientcreds]\nclient_secret = \"" + canary + "\nnext = 1\n",
		"[profiles.ci.clientcreds]\nclient_secret = '''" + canary + "\n",
		"[profiles.ci.clientcreds]\nclient_secret = \"" + canary + "\"\nclient_secret = \"" + canary + "\"\n",
	}
	for i, doc := range docs {
		_, err := Parse("c.toml", []byte(doc))
		if err == nil {
			t.Errorf("doc %d parsed", i)
			continue
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("doc %d: error text leaks the secret:\n%s", i, err)
		}
	}

	p := &Profile{Name: "ci", Flows: map[string]map[string]Value{"clientcreds": {"client_secret": {Raw: canary, Origin: Origin{File: "c.toml", Line: 3, Col: 1}}}}}
	if err := p.ErrorAt("clientcreds.client_secret", "unknown option"); strings.Contains(err.Error(), canary) {
		t.Errorf("ErrorAt leaks the secret: %s", err)
	}
}
