// Package redistest runs a real, throwaway redis-server on 127.0.0.1 for
// tests: no persistence, its files in a temporary directory, stopped
// through t.Cleanup.
//
// When redis-server is not installed the test is skipped with the reason,
// except when CI=true, where it fails: CI must run these tests (.ci/run
// installs the Debian package redis-server).
package redistest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Config selects the server's features; the zero Config is a plain server
// without a password.
type Config struct {
	// Password, if set, is required from clients (requirepass).
	Password string
	// TLS serves only TLS, with a server certificate for 127.0.0.1 and
	// localhost issued by a CA generated for this server (see Server.CA).
	TLS bool
	// Args are more redis-server arguments (--cluster-enabled yes, ...).
	Args []string
}

// Server is a running redis-server. Its methods are safe for concurrent
// use.
type Server struct {
	addr string
	tls  bool
	ca   []byte
	stop func()
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() { s.stop() }

// Addr returns the server's address, 127.0.0.1:<port>.
func (s *Server) Addr() string { return s.addr }

// URL returns redis://127.0.0.1:<port>, or rediss:// for a TLS server. It
// carries no password.
func (s *Server) URL() string {
	if s.tls {
		return "rediss://" + s.addr
	}
	return "redis://" + s.addr
}

// CA returns the PEM certificate of the CA that issued a TLS server's
// certificate; nil for a plain server.
func (s *Server) CA() []byte { return s.ca }

// Start runs a plain redis-server without a password.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Config{})
}

// StartTLS runs a TLS-only redis-server; trust Server.CA to connect.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Config{TLS: true})
}

// StartWith runs a redis-server configured by c.
func StartWith(t testing.TB, c Config) *Server {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	s := &Server{tls: c.TLS}
	var tlsArgs []string
	if c.TLS {
		s.ca, tlsArgs = writeCerts(t, dir)
	}
	// A free port can be taken by someone else before redis binds it, so
	// try a few.
	var lastErr error
	for range 3 {
		port := freePort(t)
		args := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
		if c.TLS {
			args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port))
			args = append(args, tlsArgs...)
		} else {
			args = append(args, "--port", strconv.Itoa(port))
		}
		if c.Password != "" {
			args = append(args, "--requirepass", c.Password)
		}
		args = append(args, c.Args...)
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = s.run(t, bin, args); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// binary returns redis-server's path, or skips the test (fails it in CI)
// when it is not installed.
func binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redistest: redis-server is not installed; CI must install the Debian package redis-server (see .ci/run)")
		}
		t.Skip("redistest: redis-server is not installed (apt-get install redis-server); skipping")
	}
	return bin
}

// run starts the server and waits until it answers on s.addr.
func (s *Server) run(t testing.TB, bin string, args []string) error {
	t.Helper()
	var out syncbuf.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	s.stop = stop
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited on start:\n%s", out.String())
		default:
		}
		if s.ready() {
			t.Cleanup(stop)
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("redis-server did not answer on %s within 10s:\n%s", s.addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ready reports whether a redis server answers PING on s.addr. Any reply
// counts (NOAUTH too): it proves that this is a Redis and that it serves.
func (s *Server) ready() bool {
	c, err := net.DialTimeout("tcp", s.addr, time.Second)
	if err != nil {
		return false
	}
	if s.tls {
		// The handshake needs no trust here: readiness only.
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeCerts generates a CA and a server certificate for 127.0.0.1 and
// localhost, writes them to dir, and returns the CA PEM and the
// redis-server TLS arguments.
func writeCerts(t testing.TB, dir string) ([]byte, []string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("redistest: generate certificates: %v", err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	ca, err := x509.ParseCertificate(caDER)
	must(err)

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	must(err)
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	must(err)

	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{
		"ca.pem":     caPEM,
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: srvKeyDER}),
	}
	for name, b := range files {
		must(os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	return caPEM, []string{
		"--tls-cert-file", filepath.Join(dir, "server.pem"),
		"--tls-key-file", filepath.Join(dir, "server.key"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"),
		"--tls-auth-clients", "no",
	}
}
