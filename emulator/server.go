package emulator

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Options configures a Server. The zero value is usable: it serves
// DefaultConfig on a random loopback port.
type Options struct {
	// Addr is the TCP address to listen on; default "127.0.0.1:0".
	Addr string
	// CAFile, if set, is where Start writes the CA certificate (PEM, 0644)
	// so that other processes can trust the server.
	CAFile string
	// Hostnames are extra DNS names or IPs for the server certificate. It
	// always covers localhost, 127.0.0.1, ::1 and the host of Addr.
	Hostnames []string
	// Config is the directory to serve; a Config with no tenants means
	// DefaultConfig.
	Config Config
	// TokenLifetime is the lifetime of issued access tokens; default 1h.
	TokenLifetime time.Duration
	// V1Resources and V2Resources override the token version of
	// resources (the "<resource>" of "<resource>/.default"), which
	// otherwise follows the resource's App.AccessTokenVersion; first-party
	// resources (Graph, Storage, ARM, Key Vault, Azure DevOps) are v1.0 as
	// in Entra ID. V2Resources is for tests of resource servers that must
	// refuse v2.0 tokens, which Entra ID never issues for those. A name
	// no tenant registers is registered on first use, as an API open to
	// the tenant's apps. Names match without case and a trailing slash.
	V1Resources []string
	V2Resources []string
	// Logger receives one debug line per request. Secrets, assertions,
	// tokens and passwords are never logged. Default: zerolog.Nop().
	Logger zerolog.Logger
	// Now is the emulator's clock for every time decision (token claims,
	// expiry, client assertion validity); default time.Now. TLS
	// certificates always use the real clock.
	Now func() time.Time
	// DeviceCodeInterval is the polling interval device codes ask for,
	// in whole seconds; default DefaultDeviceCodeInterval (5s).
	DeviceCodeInterval time.Duration
	// DeviceCodeLifetime is how long a device code can be redeemed;
	// default DefaultDeviceCodeLifetime (15m).
	DeviceCodeLifetime time.Duration
	// AutoSignIn names a user (username) the sign-in pages sign in
	// without a password: the authorization endpoint's page and the
	// device code page fill in and submit themselves for this user. For
	// demos and browser tests only.
	AutoSignIn string
	// AutoApproveAfter, if positive, approves every device code this long
	// after it was issued, as AutoSignIn (or, if that is empty, the
	// alphabetically first user of the code's tenant).
	AutoApproveAfter time.Duration
	// FederationHost is the host name of the emulator's AD FS lookalike
	// (MEX and WS-Trust endpoints, on the emulator's port), as a
	// federated user realm names it, e.g. "adfs.test.local". It is added
	// to the server certificate; clients must resolve it to the
	// emulator. Default: the host the client used for the user realm.
	FederationHost string
	// KerberosKeytab is a keytab file holding the key of KerberosSPN, with
	// which windowstransport checks SPNEGO (Kerberos) tokens. Empty turns
	// windowstransport off (it answers 401 to everyone).
	KerberosKeytab string
	// KerberosSPN is the service principal of windowstransport; default
	// "HTTP/" + FederationHost. Clients ask their KDC for a ticket to it.
	KerberosSPN string
}

// Server is an Entra ID lookalike. Create it with New, then Start it, or
// mount Handler in a server of your own. All methods are safe for
// concurrent use.
type Server struct {
	opts   Options
	log    zerolog.Logger
	pki    *pki
	dir    *directory
	client *http.Client
	mux    http.Handler

	counters counters
	faults   faults
	users    userState
	fed      *wsfed // federated sign-in: SAML assertions, Kerberos keytab

	tlsFaults atomic.Int64 // handshakes left to fail (faults_tls.go)

	mu       sync.Mutex
	url      string
	srv      *http.Server
	started  bool
	serveErr chan error
}

// New builds a Server: a CA and server certificate, an RSA token-signing
// key and the directory from opts.Config. It does not listen; see Start.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if len(opts.Config.Tenants) == 0 {
		opts.Config = DefaultConfig()
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	// Copied so that the caller's later edits cannot reach a running server.
	opts.V1Resources = append([]string(nil), opts.V1Resources...)
	opts.V2Resources = append([]string(nil), opts.V2Resources...)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DeviceCodeInterval <= 0 {
		opts.DeviceCodeInterval = DefaultDeviceCodeInterval
	}
	if opts.DeviceCodeLifetime <= 0 {
		opts.DeviceCodeLifetime = DefaultDeviceCodeLifetime
	}
	listenHost, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: addr %q: %w", opts.Addr, err)
	}
	dir, err := newDirectory(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("emulator: config: %w", err)
	}
	fed, err := newWSFed(&opts)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	p, err := newPKI(opts.Hostnames, listenHost)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	s := &Server{opts: opts, log: opts.Logger, pki: p, dir: dir, fed: fed}
	s.client = s.newHTTPClient()
	s.mux = caseInsensitive(s.routes())
	return s, nil
}

// Start listens on Options.Addr with TLS and serves in a goroutine. It
// writes Options.CAFile first, if set. Start may be called once.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("emulator: already started")
	}
	if s.opts.CAFile != "" {
		if err := os.WriteFile(s.opts.CAFile, s.pki.caPEM, 0o644); err != nil {
			return fmt.Errorf("emulator: write CA file: %w", err)
		}
		if err := os.Chmod(s.opts.CAFile, 0o644); err != nil {
			return fmt.Errorf("emulator: write CA file: %w", err)
		}
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("emulator: listen: %w", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.url = "https://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{s.pki.serverTLS}, MinVersion: tls.VersionTLS12, GetConfigForClient: s.tlsFault},
		ErrorLog:          log.New(debugWriter{s.log}, "", 0),
	}
	s.started = true
	s.serveErr = make(chan error, 1)
	go func(srv *http.Server) {
		s.serveErr <- srv.ServeTLS(ln, "", "")
	}(s.srv)
	s.log.Debug().Str("url", s.url).Msg("emulator listening")
	return nil
}

// Close stops the server and closes its connections. It is a no-op if the
// server was not started, and safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, errc := s.srv, s.serveErr
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Close(); err != nil {
		return fmt.Errorf("emulator: close: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("emulator: serve: %w", err)
	}
	s.client.CloseIdleConnections()
	return nil
}

// Handler returns the emulator's HTTP handler, for mounting in another
// server. URLs it builds use the request's Host.
func (s *Server) Handler() http.Handler { return s.mux }

// URL returns the base URL, "https://127.0.0.1:PORT", or "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Authority returns the authority URL for tenant (a GUID, a domain or
// "organizations"), as MSAL expects it.
func (s *Server) Authority(tenant string) string { return s.URL() + "/" + tenant }

// CACertPEM returns the PEM of the CA that issued the server certificate.
// The caller must not modify it.
func (s *Server) CACertPEM() []byte { return s.pki.caPEM }

// CAFile returns Options.CAFile: where Start writes the CA certificate, or
// "" if nowhere.
func (s *Server) CAFile() string { return s.opts.CAFile }

// HTTPClient returns an HTTP client that trusts the emulator's CA. The
// same client is returned on every call.
func (s *Server) HTTPClient() *http.Client { return s.client }

func (s *Server) newHTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.pki.caPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// AddApp registers app in tenant (id or domain) at runtime. It fails if the
// tenant is unknown, the client id is taken or a certificate does not
// parse.
func (s *Server) AddApp(tenant string, app App) error {
	if err := s.dir.addApp(tenant, app); err != nil {
		return fmt.Errorf("emulator: add app: %w", err)
	}
	return nil
}

func (s *Server) now() time.Time { return s.opts.Now() }

// debugWriter sends the http.Server's own log lines (TLS handshake errors
// and the like) to the logger at debug level.
type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug().Msg(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
