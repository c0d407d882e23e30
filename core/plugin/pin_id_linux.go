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

// sameContent reports whether id and o are the same file with the same
// size and modification time: nothing wrote to it in between (a rename
// over it or a new link moves only the change time).
func (id fileID) sameContent(o fileID) bool {
	return id.dev == o.dev && id.ino == o.ino && id.size == o.size && id.mtime == o.mtime
}
