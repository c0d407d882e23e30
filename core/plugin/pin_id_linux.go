package plugin

import (
	"os"
	"syscall"
	"time"
)

// fileID is what the kernel tells us about a file that its contents
// cannot change without changing too (see pin.go).
type fileID struct {
	dev, ino     uint64
	size         int64
	mode         uint32
	mtime, ctime syscall.Timespec
}

// identify returns fi's identity, and false if fi has none we can trust.
func identify(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return fileID{}, false
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mode: st.Mode, mtime: st.Mtim, ctime: st.Ctim}, true
}

// settledBefore reports whether the file last changed before t.
func (id fileID) settledBefore(t time.Time) bool {
	return time.Unix(id.mtime.Unix()).Before(t) && time.Unix(id.ctime.Unix()).Before(t)
}
