package file

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

// lock takes the store's write lock: first within the process (so that
// goroutines queue instead of polling), then across processes with an
// exclusive flock on <path>.lock, polled until LockTimeout. It returns the
// function that releases both. The lock is held only for one
// read-modify-write of the file, never across network I/O.
func (s *Store) lock(ctx context.Context) (func(), error) {
	deadline := time.Now().Add(s.lockTimeout)
	timer := time.NewTimer(s.lockTimeout)
	defer timer.Stop()
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("file: waiting for the cache lock: %w", ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("file: could not lock cache file %s within %s: another goroutine of this process is still writing it", s.path, s.lockTimeout)
	}
	release := func() { <-s.writer }
	f, err := openFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		release()
		return nil, fmt.Errorf("file: open lock file: %w", err)
	}
	fail := func(err error) (func(), error) {
		_ = f.Close()
		release()
		return nil, err
	}
	delay := time.Millisecond
	for {
		busy, err := tryLock(f)
		if err != nil {
			return fail(fmt.Errorf("file: lock %s: %w", s.lockPath, err))
		}
		if !busy {
			break
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fail(fmt.Errorf("file: could not lock cache file %s within %s: lock file %s is held by %s", s.path, s.lockTimeout, s.lockPath, s.holder()))
		}
		// Exponential backoff with jitter, capped, so that parallel
		// processes do not poll in lockstep.
		d := min(delay/2+rand.N(delay), left)
		delay = min(2*delay, 25*time.Millisecond)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fail(fmt.Errorf("file: waiting for lock %s: %w", s.lockPath, ctx.Err()))
		case <-t.C:
		}
	}
	// Record the holder for the timeout message of whoever waits next.
	// Best effort: the lock itself is the flock, not this content. A
	// fixed-width record overwrites the last one without a truncate (on
	// ext4 a truncate to zero makes the close start a write-out, which
	// would cost every write a disk flush).
	_, _ = fmt.Fprintf(f, "%-19d\n", os.Getpid())
	return func() {
		unlock(f)
		_ = f.Close()
		release()
	}, nil
}

// holder describes the process that last recorded itself in the lock file.
func (s *Store) holder() string {
	f, err := openFile(s.lockPath, os.O_RDONLY, 0)
	if err != nil {
		return "another process"
	}
	var b [32]byte
	n, _ := f.ReadAt(b[:], 0)
	_ = f.Close()
	line, _, _ := bytes.Cut(b[:n], []byte("\n"))
	pid, err := strconv.Atoi(string(bytes.TrimSpace(line)))
	if err != nil || pid <= 0 {
		return "another process"
	}
	if pid == os.Getpid() {
		return fmt.Sprintf("this process (pid %d)", pid)
	}
	name, alive := processName(pid)
	switch {
	case !alive:
		return "another process"
	case name != "":
		return fmt.Sprintf("another process, probably pid %d (%s); if it is stuck, stop it", pid, name)
	}
	return fmt.Sprintf("another process, probably pid %d; if it is stuck, stop it", pid)
}
