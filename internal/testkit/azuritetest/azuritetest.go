// Package azuritetest runs Azurite's blob service (Microsoft's Azure
// Storage emulator, the npm package "azurite") on loopback HTTPS with
// OAuth checks on, so that tests can point a real Azure SDK client at it
// with tokens from credhost.
//
// Azurite is installed with npm, once per machine, into a cache directory
// under os.TempDir() and reused by later runs and by every test binary.
// Without node or npm, or if the install fails, a test skips and says why;
// with CI=true it fails instead, so CI cannot pass without running it.
package azuritetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/credhost/credhost/internal/testkit/npmtest"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
)

// Version is the Azurite release the tests run. It is pinned because the
// OAuth checks the tests rely on (accepted issuers and audiences) live in
// its source and may change between releases.
const Version = "3.35.0"

// Account is Azurite's built-in storage account.
const Account = "devstoreaccount1"

// Bounds on the slow steps; they only stop a stuck run, nothing asserts
// how long a step took.
const (
	readyTimeout  = 2 * time.Minute
	startAttempts = 3 // a freed port can be taken before Azurite binds it
)

// Server is a running Azurite blob service.
type Server struct {
	// URL is the blob service URL of Account,
	// "https://127.0.0.1:PORT/devstoreaccount1".
	URL string
	// CACertPEM is the certificate Azurite serves (self-signed).
	CACertPEM []byte
	// HTTPClient trusts CACertPEM; use it as the Azure SDK client's
	// transport (azcore.ClientOptions.Transport).
	HTTPClient *http.Client
}

// Start installs Azurite if needed and serves its blob service with
// "--oauth basic" on a free loopback port, with a certificate made for the
// test and storage under t.TempDir(). Telemetry is off, so nothing leaves
// the machine. The process is killed when the test ends. Start skips the
// test (fails it when CI=true) if node or npm is missing or the install
// fails, and fails it if Azurite does not become ready.
func Start(t testing.TB) *Server {
	t.Helper()
	node := npmtest.Node(t)
	dir := npmtest.Install(t, "azurite-"+Version, "azurite@"+Version)
	script := filepath.Join(dir, "node_modules", "azurite", "dist", "src", "blob", "main.js")

	tmp := t.TempDir()
	certPEM, err := writeCert(tmp)
	if err != nil {
		t.Fatalf("azuritetest: certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	client := &http.Client{Transport: tr, Timeout: time.Minute}

	var lastOut string
	for attempt := 1; attempt <= startAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("azuritetest: %v", err)
		}
		p := start(t, node, script, tmp, port)
		base := "https://127.0.0.1:" + strconv.Itoa(port) + "/" + Account
		err = waitReady(client, base, p)
		if err == nil {
			t.Cleanup(func() {
				p.stop()
				tr.CloseIdleConnections()
			})
			return &Server{URL: base, CACertPEM: certPEM, HTTPClient: client}
		}
		lastOut = fmt.Sprintf("%v\n%s", err, p.out.String())
		p.stop()
	}
	// Azurite's console output has no tokens: the access log is off
	// (--silent) and no request reached it with credentials.
	t.Fatalf("azuritetest: Azurite did not start after %d attempts: %s", startAttempts, lastOut)
	return nil
}

// process is a started Azurite.
type process struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{} // closed when the process has exited
}

func start(t testing.TB, node, script, tmp string, port int) *process {
	t.Helper()
	loc := filepath.Join(tmp, "data-"+strconv.Itoa(port))
	if err := os.MkdirAll(loc, 0o700); err != nil {
		t.Fatalf("azuritetest: %v", err)
	}
	cmd := exec.Command(node, script,
		"--oauth", "basic",
		"--cert", filepath.Join(tmp, "cert.pem"),
		"--key", filepath.Join(tmp, "key.pem"),
		"--blobHost", "127.0.0.1",
		"--blobPort", strconv.Itoa(port),
		"--location", loc,
		// The Azure SDK may speak a newer REST API version than this
		// Azurite knows; the check is about versions, not authentication.
		"--skipApiVersionCheck",
		"--disableTelemetry",
		"--silent",
	)
	cmd.Dir = tmp
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("azuritetest: start azurite: %v", err)
	}
	p := &process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p
}

// stop kills the process (it is ours, started by start) and waits for it.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitReady polls the service until it answers HTTPS (any status: without
// credentials Azurite refuses the request, which proves it is serving),
// the process exits, or readyTimeout passes.
func waitReady(client *http.Client, base string, p *process) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"?comp=list", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := client.Do(req.WithContext(ctx))
		cancel()
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("azurite exited: %v", p.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %v", readyTimeout, err)
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// writeCert writes cert.pem and key.pem into dir: a self-signed P-256
// certificate for 127.0.0.1, its own CA, valid for a day.
func writeCert(dir string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "azuritetest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		return nil, err
	}
	return certPEM, nil
}
