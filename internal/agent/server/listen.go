package server

import (
	"errors"
	"net"
	"os"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/internal/agent"
)

// ownerListener accepts only connections from this process's uid: the
// socket's modes are the first fence, SO_PEERCRED the second (a socket
// passed to or opened by another user's process still ends here).
type ownerListener struct {
	net.Listener
	uid int
	log zerolog.Logger
}

func (l ownerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := agent.PeerUID(c)
		if err == nil && uid == l.uid {
			return c, nil
		}
		if err == nil {
			err = errors.New("peer runs as another user")
		}
		l.log.Warn().Int("peer_uid", uid).Err(err).Msg("refused a connection")
		_ = c.Close()
	}
}

func newOwnerListener(l net.Listener, log zerolog.Logger) net.Listener {
	return ownerListener{Listener: l, uid: os.Getuid(), log: log}
}
