package binpath

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLookPathNeverUsesTheWorkingDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("execute bits")
	}
	cwd := t.TempDir()
	abs := t.TempDir()
	for _, d := range []string{cwd, filepath.Join(cwd, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "credhost-cli"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(cwd)
	sep := string(os.PathListSeparator)
	for _, list := range []string{"", ".", sep, "." + sep + abs, sep + abs, "bin" + sep + abs, "./bin"} {
		if p, err := lookIn(list, "credhost-cli"); !errors.Is(err, ErrNotFound) {
			t.Errorf("PATH %q: found %q, want ErrNotFound", list, p)
		}
	}
	// A non-executable file is skipped; an executable one in an absolute
	// directory is found even after relative entries.
	want := filepath.Join(abs, "credhost-cli")
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := lookIn(strings.Join([]string{".", abs}, sep), "credhost-cli"); err == nil {
		t.Errorf("found the non-executable %q", p)
	}
	if err := os.Chmod(want, 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := lookIn(strings.Join([]string{"", ".", "bin", abs}, sep), "credhost-cli"); err != nil || p != want {
		t.Errorf("got %q, %v; want %q", p, err, want)
	}
}
