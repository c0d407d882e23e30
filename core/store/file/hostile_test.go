//go:build unix

package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credhost/credhost/core"
)

// within runs fn and fails the test if it does not return within a
// generous bound: the point is "never hangs", not a speed.
func within(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s hangs (still blocked after 20s)", what)
		return nil
	}
}

// TestLockFileSymlinkNotFollowed: a symbolic link planted at the lock path
// must not make a write follow it; the link's target stays as it was.
func TestLockFileSymlinkNotFollowed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.bin")
	decoy := filepath.Join(t.TempDir(), "decoy")
	const content = "precious data the lock must not overwrite\n"
	if err := os.WriteFile(decoy, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(decoy, path+".lock"); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, path, keyOpts(testKeyB64))
	_, err := s.Save(context.Background(), "k", core.Blob{Data: []byte("v")})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Save with a symlink at the lock path = %v, want an error naming the symbolic link", err)
	}
	if b, _ := os.ReadFile(decoy); string(b) != content {
		t.Fatalf("the symlink's target was overwritten: %q", b)
	}
	// The same for a sign-in lock.
	sum := signInLockPath(dir, "profile|scope")
	if err := os.MkdirAll(filepath.Dir(sum), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(decoy, sum); err != nil {
		t.Fatal(err)
	}
	if unlock, err := s.SignInLock(context.Background(), "profile|scope"); err == nil {
		unlock()
		t.Error("SignInLock followed a symbolic link")
	}
	if b, _ := os.ReadFile(decoy); string(b) != content {
		t.Fatalf("the sign-in lock's symlink target was changed: %q", b)
	}
}

// TestIndexClaimingGigabytes: a header whose index length claims 1 or 4
// GB, in a (sparse) file that really is that large, is damage found
// before any allocation: quick, small, set aside with one warning.
func TestIndexClaimingGigabytes(t *testing.T) {
	sk, _ := newSealKey(testKey)
	for _, claim := range []uint32{1 << 30, 1<<32 - 1} {
		t.Run(fmt.Sprintf("%dGiB", (uint64(claim)+1)>>30), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cache.bin")
			h := header{kdf: kdfKey, check: sk.check, indexSize: claim}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Write(appendHeader(nil, &h))
			if err == nil {
				err = f.Truncate(int64(claim) + 4096) // sparse: costs no disk
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Skipf("cannot make a sparse file here: %v", err)
			}

			// A read-only reader reports the damage.
			ro := openTest(t, path, &Options{Key: core.NewSecret(testKeyB64), ReadOnly: true})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err = within(t, "Load of a read-only store", func() error { _, err := ro.Load(context.Background(), "k"); return err })
			runtime.ReadMemStats(&after)
			if !isDamaged(err) || !strings.Contains(err.Error(), "limit") {
				t.Fatalf("read-only Load = %v, want damage naming the limit", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Fatalf("reading the header allocated %d MB", n>>20)
			}

			// A writer sets it aside and goes on.
			var logs logBuffer
			s := openTest(t, path, &Options{Key: core.NewSecret(testKeyB64), Log: logs.logger()})
			runtime.ReadMemStats(&before)
			err = within(t, "Load", func() error { _, err := s.Load(context.Background(), "k"); return err })
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("Load = %v, want the file set aside", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Fatalf("Load allocated %d MB", n>>20)
			}
			if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 || strings.Count(logs.String(), `"level":"warn"`) != 1 {
				t.Fatalf("set aside %v, log %s", aside, logs.String())
			}
			mustSave(t, s, "k", core.Blob{Data: []byte("v")})
		})
	}
}

// TestSpecialFilesRefused: a FIFO or a device at the cache, key or lock
// path is a clear error, quickly; nothing blocks on it.
func TestSpecialFilesRefused(t *testing.T) {
	ctx := context.Background()
	mkfifo := func(t *testing.T, p string) {
		t.Helper()
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	}
	t.Run("FIFO at the cache path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cache.bin")
		mkfifo(t, path)
		for _, ro := range []bool{true, false} {
			s := openTest(t, path, &Options{Key: core.NewSecret(testKeyB64), ReadOnly: ro})
			err := within(t, "Load", func() error { _, err := s.Load(ctx, "k"); return err })
			if err == nil || !strings.Contains(err.Error(), "FIFO") || !strings.Contains(err.Error(), path) {
				t.Fatalf("Load (read-only %v) = %v, want an error naming the FIFO", ro, err)
			}
			if ro {
				continue
			}
			err = within(t, "Save", func() error { _, err := s.Save(ctx, "k", core.Blob{Data: []byte("v")}); return err })
			if err == nil || !strings.Contains(err.Error(), "FIFO") {
				t.Fatalf("Save = %v, want an error naming the FIFO", err)
			}
		}
	})
	t.Run("FIFO at the key path", func(t *testing.T) {
		dir := t.TempDir()
		mkfifo(t, filepath.Join(dir, KeyFileName))
		err := within(t, "Open", func() error {
			s, err := Open(filepath.Join(dir, "cache.bin"), nil)
			if err == nil {
				_ = s.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "FIFO") || !strings.Contains(err.Error(), KeyFileName) {
			t.Fatalf("Open = %v, want an error naming the FIFO key file", err)
		}
	})
	t.Run("device as the key file", func(t *testing.T) {
		err := within(t, "Open", func() error {
			s, err := Open(filepath.Join(t.TempDir(), "cache.bin"), &Options{KeyFile: "/dev/zero"})
			if err == nil {
				_ = s.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "device") {
			t.Fatalf("Open = %v, want an error naming the device", err)
		}
	})
	t.Run("FIFO at the lock path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cache.bin")
		mkfifo(t, path+".lock")
		s := openTest(t, path, keyOpts(testKeyB64))
		err := within(t, "Save", func() error { _, err := s.Save(ctx, "k", core.Blob{Data: []byte("v")}); return err })
		if err == nil || !strings.Contains(err.Error(), "FIFO") {
			t.Fatalf("Save = %v, want an error naming the FIFO", err)
		}
	})
}

// TestDirectoryMustBeTheUsers: a cache directory that group or others can
// write to is refused, with the fix.
func TestDirectoryMustBeTheUsers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := Open(filepath.Join(dir, "cache.bin"), keyOpts(testKeyB64))
	if err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("Open in a world-writable directory = %v, want a refusal with the fix", err)
	}
}
