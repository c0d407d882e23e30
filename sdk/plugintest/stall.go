package plugintest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// stallServer is a loopback TCP listener that accepts connections, reads
// what clients send and never answers: a flow pointed at it waits on the
// network until its context ends. It tells when a client has sent its
// first bytes (the flow is inside a request) and when every connection is
// closed again (the flow let go of it).
type stallServer struct {
	ln      net.Listener
	reached chan struct{} // closed when a client sent its first bytes
	once    sync.Once

	mu       sync.Mutex
	accepted int // connections ever accepted
	conns    map[net.Conn]bool
	changed  chan struct{} // closed and replaced whenever a connection closes
	stopped  bool
}

func newStallServer(t testing.TB) *stallServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("plugintest: stall listener: %v", err)
	}
	s := &stallServer{ln: ln, reached: make(chan struct{}), conns: map[net.Conn]bool{}, changed: make(chan struct{})}
	go s.serve()
	t.Cleanup(s.close)
	return s
}

// addr is the listener's host:port.
func (s *stallServer) addr() string { return s.ln.Addr().String() }

func (s *stallServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.accepted++
		s.conns[c] = true
		s.mu.Unlock()
		go s.hold(c)
	}
}

// hold reads and discards until the client closes the connection.
func (s *stallServer) hold(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			s.once.Do(func() { close(s.reached) })
		}
		if err != nil {
			break
		}
	}
	_, _ = io.Copy(io.Discard, c)
	_ = c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// open returns the number of open connections and a channel closed at the
// next change.
func (s *stallServer) open() (int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns), s.changed
}

// connections returns how many connections were ever accepted.
func (s *stallServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func (s *stallServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	s.stopped = true
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}
