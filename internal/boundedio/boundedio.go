// Package boundedio reads files and streams whose size credhost does not
// control (a secret file, a CA file, a config file, an IdP's answer)
// with a cap, so that a hostile or mistaken input (/dev/zero, a FIFO, a
// 2 GiB answer) is a clear error instead of an out-of-memory crash or a
// hang.
//
// ReadFile opens without blocking (O_NONBLOCK: opening a FIFO with no
// writer would otherwise wait forever) and checks with fstat, on the
// opened descriptor, that it is a regular file before reading a byte:
// FIFOs, devices, sockets and directories are refused. The size is
// checked against the cap before reading, and the read itself is capped
// too (a file may grow, and /proc files report size 0).
package boundedio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Caps used across credhost; docs/security.md ("Limits") says why each.
const (
	// MaxSecretFile caps a file named by a "file:" reference: a client
	// secret, a password, a cache key, or a PEM/PFX certificate with its
	// chain (tens of KiB at most).
	MaxSecretFile = 1 << 20
	// MaxCAFile caps a ca_file: a bundle of PEM roots (the whole Mozilla
	// bundle is about 220 KiB).
	MaxCAFile = 1 << 20
	// MaxConfigFile caps one config file (system, user or project).
	MaxConfigFile = 4 << 20
)

// TooLargeError is a file or stream over its cap.
type TooLargeError struct {
	// Name is the file's path or the stream's description (a URL).
	Name string
	// Limit is the cap in bytes.
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than the %s limit", e.Name, FormatSize(e.Limit))
}

// NotRegularError is a path that names something other than a regular
// file: a FIFO, a device, a socket or a directory.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, kind(e.Mode))
}

// Is makes errors.Is(err, ErrNotRegular) true.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "not a plain file (" + m.Type().String() + ")"
}

// Sentinels for errors.Is: ErrTooLarge matches every *TooLargeError,
// ErrNotRegular every *NotRegularError.
var (
	ErrTooLarge   = errors.New("boundedio: over the size limit")
	ErrNotRegular = errors.New("boundedio: not a regular file")
)

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Open opens path for reading without blocking on a FIFO and returns it
// only if the opened descriptor is a regular file (*NotRegularError
// otherwise), with its fstat information. Errors from opening are
// *fs.PathError as from os.Open.
func Open(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	return f, fi, nil
}

// ReadFile reads the regular file at path, at most limit bytes: a larger
// file is a *TooLargeError, anything but a regular file a
// *NotRegularError, both found before the content is read.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, &TooLargeError{Name: path, Limit: limit}
	}
	return ReadAll(f, limit, path)
}

// ReadAll reads r to its end, at most limit bytes; more is a
// *TooLargeError naming name. It never holds more than limit+1 bytes.
func ReadAll(r io.Reader, limit int64, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{Name: name, Limit: limit}
	}
	return b, nil
}

// LimitReader returns a reader of r that fails with a *TooLargeError
// naming name once more than limit bytes have been read from it, where
// io.LimitReader would stop silently (and a truncated answer would be
// parsed as if whole).
func LimitReader(r io.Reader, limit int64, name string) io.Reader {
	return &limited{r: r, left: limit, limit: limit, name: name}
}

type limited struct {
	r           io.Reader
	left, limit int64
	name        string
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &TooLargeError{Name: l.name, Limit: l.limit}
	}
	// Read one byte past the cap to tell "exactly limit" from "more".
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), &TooLargeError{Name: l.name, Limit: l.limit}
	}
	return n, err
}

// FormatSize prints n bytes in the largest binary unit that divides it
// ("1 MiB", "64 KiB", "1500 bytes").
func FormatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
