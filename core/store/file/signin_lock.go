package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/credhost/credhost/core"
)

// SignInLock implements core.SignInLocker with an flock on a file of its
// own per key, in <cache dir>/signin/. The file name is a hash: keys name
// profiles and scopes, which need not be visible in a directory listing.
// Lock files are left in place (removing one while another process
// waits on it would let two processes in).
func (s *Store) SignInLock(ctx context.Context, key string) (func(), error) {
	path := signInLockPath(s.dir, key)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("file: sign-in lock directory: %w", err)
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	f, err := openFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("file: open sign-in lock: %w", err)
	}
	delay := 5 * time.Millisecond
	for {
		busy, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("file: sign-in lock %s: %w", path, err)
		}
		if !busy {
			return func() { unlock(f); _ = f.Close() }, nil
		}
		// Someone else is signing in (maybe a person is reading a device
		// code): poll gently, with jitter, until they are done.
		t := time.NewTimer(delay/2 + rand.N(delay))
		delay = min(2*delay, 200*time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, fmt.Errorf("file: waiting for another process to finish signing in: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// signInLockPath is key's sign-in lock file under the cache directory dir.
func signInLockPath(dir, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(dir, "signin", hex.EncodeToString(sum[:12])+".lock")
}

var _ core.SignInLocker = (*Store)(nil)
