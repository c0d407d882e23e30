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

// openFile opens path for the store. It never follows a symbolic link at
// the last element (a link planted at the lock or cache path would make
// credhost write through it), never blocks on a FIFO (O_NONBLOCK for the
// open only), is close-on-exec, and refuses anything but a regular file
// (a FIFO would hang a reader, a device such as /dev/zero would feed it
// without end). The directory itself is checked by checkDir.
func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, uint32(perm.Perm()))
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("is a symbolic link; credhost does not follow links for its cache files: remove it")}
	}
	if errors.Is(err, unix.ENXIO) { // O_WRONLY on a FIFO without a reader
		return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("is a FIFO, not a regular file: remove it")}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		_ = unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("is %s, not a regular file: remove it", fileKind(st.Mode))}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		_ = unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFDIR:
		return "a directory"
	}
	return "a special file"
}

// checkDir refuses a directory for credhost's files that is not the
// user's own or that group or others may write to: whoever can write
// there can replace the cache, the key file or a lock.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("file: cache directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("file: cache directory %s belongs to uid %d, not to this user (uid %d); use a directory of your own for the cache ([cache] path)", dir, st.Uid, uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("file: cache directory %s has mode %04o: group or others can write to it and so replace the cache or its key; run `chmod 700 %s`", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

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
