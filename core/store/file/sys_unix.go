//go:build unix

package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// inode returns the file's inode number.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) //nolint:unconvert // the type differs between systems
	}
	return 0
}

// loosePerms reports whether group or others have any access to the file.
func loosePerms(fi fs.FileInfo) bool { return fi.Mode().Perm()&0o077 != 0 }

// checkKeyFileMode refuses a key file that others may read, as ssh does
// with private keys.
func checkKeyFileMode(path string, fi fs.FileInfo) error {
	if loosePerms(fi) {
		return fmt.Errorf("file: key file %s has mode %04o: others can read the cache key; run `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	return nil
}

// syncDir makes a rename or link in dir durable. File systems that cannot
// sync a directory are ignored: the rename itself is still atomic.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// replaceFile atomically replaces dst with src.
func replaceFile(src, dst string) error { return os.Rename(src, dst) }

// tryLock takes an exclusive lock on f without waiting; busy reports that
// another holder has it.
func tryLock(f *os.File) (busy bool, err error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return true, nil
		}
		return false, err
	}
}

func unlock(f *os.File) { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN) }

// processName returns the command name of pid, or "" if unknown (no
// /proc, or no such process).
func processName(pid int) (string, bool) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
		return string(trimNL(b)), true
	}
	if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
		return "", true
	}
	return "", false
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
