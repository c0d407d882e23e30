package plugin

// Checking a plugin binary against its pin.
//
// Hashing a 20 MB plugin costs about 20 ms on our 2-core machines, as much
// as the rest of a cold start, and a host that restarts a plugin, or an
// embedder that opens a client per request, would pay it on every start.
// So a host process remembers the digest of each binary it hashed, keyed
// by what the kernel says about the file (device, inode, size, and the
// modification and change times, to the nanosecond), and hashes again
// whenever any of these differs.
//
// What that trusts: the digest is taken from the descriptor the plugin is
// then started from (exec.go), so renaming another file into place cannot
// get past it. The memo adds one way past the pin, for someone who can
// write the file itself: changing its bytes without the kernel moving its
// change time.
// Ordinary writes, truncation, renames, chmod and touch all move it (and
// users cannot set it back); what does not is root, a clock set back, or
// pages written through a shared mapping that was already dirty before
// the hash (Linux updates the times when a page is first made writable,
// not on each store). Whoever can do that can also edit the config that
// holds the pin. On a network file system we trust the client's view of
// those times, as exec trusts the client's view of the bytes.
//
// Two more details close gaps the cache would otherwise open:
//   - A file changed within racyWindow before we hashed it is not
//     remembered: a later write in the same timestamp tick (coarse kernel
//     clocks, 2 s on FAT) could leave every time unchanged. Git's index
//     has the same rule ("racy git").
//   - The file is hashed from the descriptor we stat, and is remembered
//     only if a second stat after hashing matches the first, so the digest
//     belongs to exactly the file identity it is stored under.

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
)

// racyWindow is how recently a file may have changed and still have its
// digest remembered: above any timestamp granularity we may meet.
const racyWindow = 3 * time.Second

// pinCache holds the digests this host process computed, by path. It
// holds one entry per plugin path, so it stays as small as the plugin dir.
var pinCache struct {
	mu sync.Mutex
	m  map[string]pinEntry
}

type pinEntry struct {
	id  fileID
	sum [sha256.Size]byte
}

// timeNow is time.Now; tests of the memo pretend files are older.
var timeNow = time.Now

// verifyPin checks the file at path against want (a SHA-256). A mismatch
// wraps goplugin.ErrChecksumsDoNotMatch. It is safe for concurrent use.
// Starting a plugin does not use it (openVerified hashes the descriptor it
// then executes); it is the same check for a path.
func verifyPin(path string, want []byte) error {
	sum, err := pinDigest(path, timeNow)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return fmt.Errorf("%s: %w", path, goplugin.ErrChecksumsDoNotMatch)
	}
	return nil
}

// pinDigest returns the SHA-256 of the file at path, from the memo when
// the file is the one hashed before.
func pinDigest(path string, now func() time.Time) ([sha256.Size]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	defer f.Close()
	sum, _, err := fileDigest(f, path, now)
	return sum, err
}

// fileDigest returns the SHA-256 of the open file f (named path in the
// memo and in errors) and the identity it was hashed under.
func fileDigest(f *os.File, path string, now func() time.Time) ([sha256.Size]byte, fileID, error) {
	var sum [sha256.Size]byte
	before, err := f.Stat()
	if err != nil {
		return sum, fileID{}, err
	}
	id, cacheable := identify(before)
	if cacheable {
		pinCache.mu.Lock()
		e, ok := pinCache.m[path]
		pinCache.mu.Unlock()
		if ok && e.id == id {
			return e.sum, id, nil
		}
	}
	began := now()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, id, fmt.Errorf("hash %s: %w", path, err)
	}
	h.Sum(sum[:0])
	after, err := f.Stat()
	if err != nil {
		return sum, id, err
	}
	// A file that changed while we read it is not remembered; starting
	// it fails after the start (verifiedExe.unchanged).
	if id2, _ := identify(after); cacheable && id2 == id && id.settledBefore(began.Add(-racyWindow)) {
		pinCache.mu.Lock()
		if pinCache.m == nil {
			pinCache.m = map[string]pinEntry{}
		}
		pinCache.m[path] = pinEntry{id: id, sum: sum}
		pinCache.mu.Unlock()
	}
	return sum, id, nil
}
