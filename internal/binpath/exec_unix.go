//go:build !windows

package binpath

import "os"

func executable(fi os.FileInfo) bool { return fi.Mode().Perm()&0o111 != 0 }
