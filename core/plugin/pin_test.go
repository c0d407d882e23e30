package plugin

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
)

// later pretends every file is old enough to be remembered.
func later() time.Time { return time.Now().Add(time.Hour) }

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func digest(t *testing.T, path string, now func() time.Time) string {
	t.Helper()
	sum, err := pinDigest(path, now)
	if err != nil {
		t.Fatal(err)
	}
	return string(sum[:])
}

func checksum(t *testing.T, path string) string {
	t.Helper()
	pin, err := Checksum(path)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := ParsePin(pin)
	if err != nil {
		t.Fatal(err)
	}
	return string(sum)
}

func TestPinDigestIsTheFilesChecksum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin")
	writeFile(t, path, "build 1")
	for i := range 2 { // hashed, then remembered
		if got := digest(t, path, later); got != checksum(t, path) {
			t.Fatalf("call %d: digest differs from Checksum", i)
		}
	}
}

func TestPinDigestSeesEveryChange(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("digests are remembered on linux only; elsewhere every call hashes")
	}
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
	}{
		{"rewritten, another size", func(t *testing.T, path string) { writeFile(t, path, "build 22") }},
		{"replaced by rename", func(t *testing.T, path string) {
			tmp := path + ".new"
			writeFile(t, tmp, "build 2")
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"touched back to its old times", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("2"), 6); err != nil {
				t.Fatal(err)
			}
			f.Close()
			// Setting the times moves the change time, which users cannot
			// set back; that is what the cache relies on.
			if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plugin")
			writeFile(t, path, "build 1")
			old := digest(t, path, later)
			// Let the coarse kernel clock tick, so that the change can
			// move the change time (a real change comes seconds or more
			// after the build; racy files are tested below).
			time.Sleep(20 * time.Millisecond)
			tt.change(t, path)
			got := digest(t, path, later)
			if got == old || got != checksum(t, path) {
				t.Fatal("the remembered digest of the old file was used for the changed one")
			}
		})
	}
}

// A file that changed just before it was hashed is not remembered: a
// second change in the same clock tick could leave its times as they were.
func TestPinDigestForgetsRacyFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin")
	writeFile(t, path, "build 1")
	_ = digest(t, path, time.Now)
	writeFile(t, path, "build 2") // same size, likely the same tick
	if got := digest(t, path, time.Now); got != checksum(t, path) {
		t.Fatal("a digest taken right after a change was remembered")
	}
}

func TestVerifyPin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin")
	writeFile(t, path, "build 1")
	if err := verifyPin(path, []byte(checksum(t, path))); err != nil {
		t.Fatalf("matching pin: %v", err)
	}
	wrong := make([]byte, 32)
	if err := verifyPin(path, wrong); !errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
		t.Fatalf("wrong pin: err = %v, want ErrChecksumsDoNotMatch", err)
	}
	if err := verifyPin(filepath.Join(t.TempDir(), "missing"), wrong); err == nil || errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
		t.Fatalf("missing binary: err = %v, want a file error", err)
	}
}
