//go:build unix

package boundedio

import "syscall"

// openFlags makes opening a FIFO return at once instead of waiting for a
// writer; the fstat that follows then refuses it. Reads of regular files
// are not affected by O_NONBLOCK.
const openFlags = syscall.O_NONBLOCK
