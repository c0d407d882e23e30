package emulator

import (
	"crypto/tls"
	"errors"
)

// FailTLSHandshakes makes the next n TLS handshakes with the server fail
// (the server answers the ClientHello with an internal_error alert), as
// an overloaded TLS terminator or a flapping load balancer does. Each is
// counted under "tls_handshake_fault". A handshake happens per new
// connection, not per request: a client with a kept-alive connection
// does not meet the fault. n <= 0 clears it. Only a started server
// (Start) has handshakes; a mounted Handler does not.
func (s *Server) FailTLSHandshakes(n int) {
	s.tlsFaults.Store(int64(max(n, 0)))
}

// errTLSFault is the handshake error the server logs for an injected
// TLS fault.
var errTLSFault = errors.New("emulator: injected TLS handshake failure")

// tlsFault is the server's tls.Config.GetConfigForClient: nil (the
// server's config) unless a handshake fault is pending.
func (s *Server) tlsFault(*tls.ClientHelloInfo) (*tls.Config, error) {
	for {
		n := s.tlsFaults.Load()
		if n <= 0 {
			return nil, nil
		}
		if s.tlsFaults.CompareAndSwap(n, n-1) {
			s.counters.add("tls_handshake_fault")
			return nil, errTLSFault
		}
	}
}
