//go:build windows

package file

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

func inode(fs.FileInfo) uint64 { return 0 }

// checkDir is a no-op: Windows protects the user's profile with ACLs.
func checkDir(string) error { return nil }

// openFile is os.OpenFile: Windows has no FIFOs at file paths, and
// creating a symbolic link needs a privilege a planted link's owner
// would already have over the user's files.
func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}

// loosePerms is false: Windows protects the user's profile with ACLs, and
// Go's mode bits do not reflect them.
func loosePerms(fs.FileInfo) bool { return false }

func checkKeyFileMode(string, fs.FileInfo) error { return nil }

func syncDir(string) {}

// replaceFile replaces dst with src, retrying while a reader has dst open
// (Windows refuses to replace an open file).
func replaceFile(src, dst string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = os.Rename(src, dst); err == nil || !errors.Is(err, windows.ERROR_ACCESS_DENIED) && !errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func tryLock(f *os.File) (bool, error) {
	var ol windows.Overlapped
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return true, nil
	}
	return false, err
}

func unlock(f *os.File) {
	var ol windows.Overlapped
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}

func processName(int) (string, bool) { return "", true }
