package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credhost/credhost/internal/boundedio"
)

// noHang runs fn and fails the test if it has not returned after a bound
// far above what a refused file takes: an unbounded read of /dev/zero or
// a FIFO with no writer never returns.
func noHang(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still reading after 10s", what)
	}
}

func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecretFileHostile: file: references to devices, FIFOs and huge
// files are clear errors at once, naming the file and never its content.
func TestSecretFileHostile(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("s"), boundedio.MaxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := mkfifo(t)
	for path, want := range map[string]string{
		"/dev/zero":    "secret file /dev/zero is a character device, not a regular file",
		"/dev/urandom": "secret file /dev/urandom is a character device, not a regular file",
		fifo:           "secret file " + fifo + " is a named pipe (FIFO), not a regular file",
		big:            "secret file " + big + " is larger than the 1 MiB limit",
	} {
		noHang(t, path, func() {
			_, err := ResolveSecret(Value{Raw: "file:" + path}, nil, "")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("ResolveSecret(file:%s) = %v, want %q", path, err, want)
			}
			if _, err := ResolveBytes(Value{Raw: "file:" + path}, nil, ""); err == nil {
				t.Errorf("ResolveBytes(file:%s) succeeded", path)
			}
		})
	}
}

// TestConfigFileHostile: a config file that is a device, a FIFO or over
// the cap is refused quickly by Load and by LoadLayers (in every layer).
func TestConfigFileHostile(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.toml")
	var b bytes.Buffer
	for i := 0; b.Len() <= boundedio.MaxConfigFile; i++ {
		fmt.Fprintf(&b, "[profiles.p%d]\nauthority = \"https://login.microsoftonline.com/contoso.com\"\nclient_id = \"11111111-1111-4111-8111-111111111111\"\nchain = [\"devicecode\"]\n\n", i)
	}
	if err := os.WriteFile(huge, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := mkfifo(t)
	for path, want := range map[string]string{
		"/dev/zero": "/dev/zero is a character device, not a regular file",
		fifo:        fifo + " is a named pipe (FIFO), not a regular file",
		huge:        huge + " is larger than the 4 MiB limit",
	} {
		noHang(t, path, func() {
			if _, err := Load(path); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load(%s) = %v, want %q", path, err, want)
			}
			for _, o := range []LoadOptions{
				{UserPath: path, SystemPath: filepath.Join(dir, "none"), NoProject: true, Getenv: Env(func(string) string { return "" })},
				{SystemPath: path, UserPath: filepath.Join(dir, "none"), NoProject: true, Getenv: Env(func(string) string { return "" })},
			} {
				if _, err := LoadLayers(&o); err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("LoadLayers(%+v) = %v, want %q", o, err, want)
				}
			}
		})
	}
}

// TestConfigParseBounded: parsing time must not grow with the square of
// the file (go-toml's decoder does, in the number of keys). A file of
// profiles just under the byte cap is refused by the key count at once,
// naming the limit; one just under the key limit parses. noHang's bound
// is far above either (the benchmark holds the numbers): before the key
// limit, the first took 20 s.
func TestConfigParseBounded(t *testing.T) {
	noHang(t, "parse of a 4 MiB file", func() {
		data := manyProfiles(boundedio.MaxConfigFile, 1<<30)
		_, err := Parse("big.toml", data)
		if err == nil || !strings.Contains(err.Error(), "more than 10000 keys and tables in one file") {
			t.Errorf("Parse(4 MiB of profiles) = %v", err)
		}
	})
	noHang(t, "parse of a file with the most keys", func() {
		data := manyProfiles(boundedio.MaxConfigFile, maxKeys)
		f, err := Parse("big.toml", data)
		if err != nil || len(f.Profiles) < maxKeys/5-1 {
			t.Errorf("Parse: %v, %d profiles", err, len(f.Profiles))
		}
	})
}

func BenchmarkParseMaxKeys(b *testing.B) {
	data := manyProfiles(boundedio.MaxConfigFile, maxKeys)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("big.toml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// manyProfiles returns a valid config of at most limit bytes and keys
// (tables and key parts, as overMaxKeys counts them).
func manyProfiles(limit, keys int) []byte {
	var b bytes.Buffer
	n := 1 // "profiles"
	for i := 0; ; i++ {
		p := fmt.Sprintf("[profiles.p%d]\nauthority = \"https://login.microsoftonline.com/contoso.com\"\nclient_id = \"11111111-1111-4111-8111-111111111111\"\nchain = [\"devicecode\"]\n\n", i)
		if b.Len()+len(p) > limit || n+5 > keys {
			return b.Bytes()
		}
		n += 5
		b.WriteString(p)
	}
}
