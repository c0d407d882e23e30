//go:build !linux

package agent

import (
	"errors"
	"net"
	"os"
	"os/exec"
)

// Supported says whether this OS has the agent: it relies on Linux's
// SO_PEERCRED to check who connects, so elsewhere it is off.
const Supported = false

func ownerUID(os.FileInfo) (int, bool) { return 0, false }

func PeerUID(net.Conn) (int, error) {
	return 0, errors.New("agent: peer credentials are not supported here")
}

func LockDir(string) (func(), error) { return nil, errors.New("agent: not supported on this OS") }

func detach(*exec.Cmd) {}
