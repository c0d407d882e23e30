package boundedio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within fails the test if fn has not returned after a generous bound: a
// FIFO that blocks would otherwise hang the test binary.
func within(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("still reading after 10s: the read is not bounded")
	}
}

func TestReadFileRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/dev/zero", "character device"},
		{"/dev/urandom", "character device"},
		{fifo, "named pipe (FIFO)"},
		{dir, "directory"},
	} {
		within(t, func() {
			b, err := ReadFile(tc.path, MaxSecretFile)
			var nr *NotRegularError
			if !errors.As(err, &nr) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("ReadFile(%s) = %d bytes, %v; want a NotRegularError naming it %q", tc.path, len(b), err, tc.want)
			}
		})
	}
}

func TestReadFileCap(t *testing.T) {
	dir := t.TempDir()
	exact := filepath.Join(dir, "exact")
	over := filepath.Join(dir, "over")
	if err := os.WriteFile(exact, bytes.Repeat([]byte("a"), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(over, bytes.Repeat([]byte("a"), 1025), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(exact, 1024); err != nil || len(b) != 1024 {
		t.Fatalf("ReadFile(exact) = %d bytes, %v", len(b), err)
	}
	_, err := ReadFile(over, 1024)
	if !errors.Is(err, ErrTooLarge) || err.Error() != over+" is larger than the 1 KiB limit" {
		t.Fatalf("ReadFile(over) = %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), 1024); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadFile(missing) = %v, want ErrNotExist", err)
	}
}

// endless is an infinite stream that counts what was read from it.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) { e.n += int64(len(p)); return len(p), nil }

func TestReadAllAndLimitReaderStopAtTheCap(t *testing.T) {
	src := &endless{}
	if _, err := ReadAll(src, 1<<20, "https://idp.example/token"); !errors.Is(err, ErrTooLarge) ||
		!strings.Contains(err.Error(), "https://idp.example/token is larger than the 1 MiB limit") {
		t.Fatalf("ReadAll(endless) = %v", err)
	}
	if src.n > 1<<20+1 {
		t.Fatalf("ReadAll read %d bytes from an endless stream, want at most the cap + 1", src.n)
	}

	src = &endless{}
	got, err := io.ReadAll(LimitReader(src, 100, "answer"))
	if !errors.Is(err, ErrTooLarge) || len(got) != 100 || src.n > 101 {
		t.Fatalf("LimitReader: %d bytes, %v, %d read from the source", len(got), err, src.n)
	}
	got, err = io.ReadAll(LimitReader(strings.NewReader(strings.Repeat("b", 100)), 100, "answer"))
	if err != nil || len(got) != 100 {
		t.Fatalf("LimitReader at exactly the cap: %d bytes, %v", len(got), err)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{1 << 20: "1 MiB", 16 << 20: "16 MiB", 64 << 10: "64 KiB", 1500: "1500 bytes", 2 << 30: "2 GiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
