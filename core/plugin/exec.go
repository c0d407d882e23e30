package plugin

// Running the binary that was checked.
//
// A pin checked on a path and then exec'd by path can be raced: whoever can
// rename files in the plugin's directory swaps the binary in between (the
// hostile-world issue ran an unpinned binary once in 200 tries). So a
// pinned plugin is opened once, hashed from that descriptor, and started
// from that same open file:
//
//   - On Linux the child execs /proc/self/fd/3, the descriptor handed to
//     it as its first extra file: the kernel resolves that name in the
//     child, after fork, to the very file we hashed, whatever the path
//     names by then. argv[0] stays the plugin's path, so a plugin still
//     sees the name it was installed under. This costs no copy, and the
//     digest memo (pin.go) still applies, since it is keyed by the
//     identity of the descriptor we exec.
//   - Elsewhere (no /proc/self/fd; or /proc not mounted) the verified
//     bytes are copied into a fresh 0700 directory of ours while being
//     hashed, and the copy is executed: nobody but us (and root) can touch
//     it between the hash and the exec.
//
// What remains: someone who can write the binary file itself (its owner,
// or root) can change it in place between the hash and the exec; the
// kernel refuses an exec while the file is open for writing, and such a
// write moves the file's modification time (only its owner may set it
// back, and the owner can edit the config), so the host compares the
// descriptor's size and times after the start with those it hashed and kills
// a plugin whose file changed (the code has run by then: that is detected,
// not prevented). Whoever can write the file can also edit the config that
// pins it.

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	goplugin "github.com/hashicorp/go-plugin"
)

// execFDEnv tells a plugin which descriptor is its own binary, so that
// Serve marks it close-on-exec and the plugin's own children do not
// inherit it.
const execFDEnv = "CREDHOST_PLUGIN_EXEC_FD"

// privateCopy makes every pinned start use a private copy, as on systems
// without /proc/self/fd; tests set it to run that path on Linux too.
var privateCopy = runtime.GOOS != "linux"

var errNoProcFD = errors.New("no /proc/self/fd")

// verifiedExe is a plugin binary that matched its pin, ready to start.
type verifiedExe struct {
	f  *os.File // the descriptor hashed (Linux) or the private copy
	id fileID   // f's identity when hashed
	// path is what the child execs; dir is a private directory to remove
	// once the plugin no longer needs its copy ("" on Linux).
	path, dir string
}

// openVerified opens the binary at path, checks it against want and
// returns what to execute. A mismatch wraps goplugin.ErrChecksumsDoNotMatch.
func openVerified(path string, want []byte) (*verifiedExe, error) {
	if !privateCopy {
		if v, err := openByDescriptor(path, want); err != errNoProcFD {
			return v, err
		}
	}
	return verifiedCopy(path, want)
}

// openByDescriptor hashes (or recalls the digest of) the open file and
// names it by /proc/self/fd/3 for the child.
func openByDescriptor(path string, want []byte) (*verifiedExe, error) {
	if _, err := os.Stat("/proc/self/fd/0"); err != nil {
		return nil, errNoProcFD
	}
	f, err := os.Open(path) // O_RDONLY|O_CLOEXEC: our copy stays ours
	if err != nil {
		return nil, err
	}
	sum, id, err := fileDigest(f, path, timeNow)
	if err == nil && subtle.ConstantTimeCompare(sum[:], want) != 1 {
		err = fmt.Errorf("%s: %w", path, goplugin.ErrChecksumsDoNotMatch)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &verifiedExe{f: f, id: id, path: "/proc/self/fd/3"}, nil
}

// verifiedCopy copies the binary into a new private directory, hashing
// the bytes as they are written, and checks the copy's digest.
func verifiedCopy(path string, want []byte) (_ *verifiedExe, err error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dir, err := os.MkdirTemp("", "credhost-plugin-") // 0700, ours
	if err != nil {
		return nil, fmt.Errorf("private copy of %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	dst := filepath.Join(dir, filepath.Base(path))
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return nil, fmt.Errorf("private copy of %s: %w", path, err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("private copy of %s: %w", path, err)
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
		return nil, fmt.Errorf("%s: %w", path, goplugin.ErrChecksumsDoNotMatch)
	}
	return &verifiedExe{path: dst, dir: dir}, nil
}

// command returns the command that starts v, with argv[0] the plugin's
// own path.
func (v *verifiedExe) command(cmd *exec.Cmd, path string) {
	cmd.Path = v.path
	cmd.Args = []string{path}
	if v.f != nil {
		cmd.ExtraFiles = []*os.File{v.f}
		cmd.Env = append(cmd.Env, execFDEnv+"=3")
	}
}

// unchanged reports whether the file we started from still has the
// inode, size and modification time it had when hashed (always true for
// a private copy). Its change time moves when it is merely renamed over
// or linked, so it is not compared here.
func (v *verifiedExe) unchanged() bool {
	if v == nil || v.f == nil {
		return true
	}
	fi, err := v.f.Stat()
	if err != nil {
		return false
	}
	id, ok := identify(fi)
	return ok && id.sameContent(v.id)
}

// release closes the descriptor and removes a private copy; it may be
// called more than once. A running
// plugin keeps its image; on Windows the copy can only go once it exited,
// so release is called again after the process is gone.
func (v *verifiedExe) release() {
	if v == nil {
		return
	}
	if v.f != nil {
		v.f.Close()
		v.f = nil
	}
	if v.dir != "" {
		os.RemoveAll(v.dir)
		v.dir = ""
	}
}
