//go:build !unix && !windows

package file

import (
	"errors"
	"io/fs"
	"os"
)

func inode(fs.FileInfo) uint64                   { return 0 }
func checkDir(string) error                      { return nil }
func loosePerms(fs.FileInfo) bool                { return false }
func checkKeyFileMode(string, fs.FileInfo) error { return nil }
func syncDir(string)                             {}
func replaceFile(src, dst string) error          { return os.Rename(src, dst) }
func unlock(*os.File)                            {}
func processName(int) (string, bool)             { return "", true }

func tryLock(*os.File) (bool, error) {
	return false, errors.New("file: file locking is not supported on this system; use the memory or redis backend")
}

func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}
