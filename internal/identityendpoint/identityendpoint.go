// Package identityendpoint serves a credhost credential as the App
// Service managed-identity endpoint (the IDENTITY_ENDPOINT and
// IDENTITY_HEADER contract, api-version 2019-08-01), so that every Azure
// SDK's ManagedIdentityCredential and DefaultAzureCredential, in any
// language, gets tokens from a credhost profile unmodified.
//
// It listens on loopback only. A request must carry the X-IDENTITY-HEADER
// secret the server made; on Linux it must also come from a socket owned
// by the server's own uid (read from /proc/net/tcp), so another user on
// the machine cannot ask even if the secret leaks. Resources can be
// limited to a list.
package identityendpoint

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// APIVersion is the App Service managed-identity API version served.
const APIVersion = "2019-08-01"

// Path is the endpoint's path; IDENTITY_ENDPOINT is http://<addr>/msi/token.
const Path = "/msi/token"

// HeaderName carries the secret (IDENTITY_HEADER) on every request.
const HeaderName = "X-IDENTITY-HEADER"

// Environment variables an Azure SDK reads to find the endpoint.
const (
	EnvEndpoint = "IDENTITY_ENDPOINT"
	EnvHeader   = "IDENTITY_HEADER"
)

// Options configures a Server.
type Options struct {
	// Credential gives the tokens (a host profile's credential).
	Credential core.Credential
	// Profile names the profile in errors and logs.
	Profile string
	// ClientID is the profile's client id: the answer's client_id, and
	// the only user-assigned identity a request may name.
	ClientID string
	// Resources, if not empty, are the only resources served (compared
	// without a trailing "/" and case-insensitively).
	Resources []string
	// Log receives one line per request (never a token or the secret).
	Log zerolog.Logger
	// AnyUser turns off the check that a request comes from a socket of
	// the server's own uid (made where the platform can tell: Linux).
	AnyUser bool
	// Timeout bounds one token request; default 2 minutes.
	Timeout time.Duration
}

// Server answers the App Service managed-identity requests.
type Server struct {
	opts   Options
	secret core.Secret
	uid    int
	http   *http.Server
	ln     net.Listener
}

// Listen makes a Server listening on addr, which must be a loopback
// address ("127.0.0.1:0" for a free port), with a fresh random secret.
func Listen(addr string, opts Options) (*Server, error) {
	if opts.Credential == nil {
		return nil, errors.New("identityendpoint: no credential")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("identityendpoint: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("identityendpoint: address %q is not a loopback IP address: the endpoint serves this machine only (use 127.0.0.1)", addr)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("identityendpoint: %w", err)
	}
	s := &Server{opts: opts, secret: core.NewSecret(base64.RawURLEncoding.EncodeToString(b[:])), uid: ownUID(), ln: ln}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	return s, nil
}

type connKey struct{}

// Endpoint is the value of IDENTITY_ENDPOINT.
func (s *Server) Endpoint() string { return "http://" + s.ln.Addr().String() + Path }

// Secret is the value of IDENTITY_HEADER.
func (s *Server) Secret() core.Secret { return s.secret }

// Serve answers requests until Close; it returns http.ErrServerClosed
// after Close.
func (s *Server) Serve() error { return s.http.Serve(s.ln) }

// Close stops the server and closes open connections.
func (s *Server) Close() error { return s.http.Close() }

// Shutdown stops the server once the requests in progress are answered.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// tokenResponse is App Service's answer (api-version 2019-08-01).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	// ExpiresOn is epoch seconds, as a string.
	ExpiresOn string `json:"expires_on"`
	Resource  string `json:"resource"`
	TokenType string `json:"token_type"`
	ClientID  string `json:"client_id"`
}

// errorResponse is App Service's error body.
type errorResponse struct {
	StatusCode    int    `json:"statusCode"`
	Message       string `json:"message"`
	CorrelationID string `json:"correlationId"`
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := s.opts.Log.Info().Str("remote", r.RemoteAddr).Str("resource", r.URL.Query().Get("resource"))
	status, msg := s.refuse(r)
	if status != 0 {
		log.Int("status", status).Str("reason", msg).Msg("identity endpoint: refused")
		s.writeError(w, status, msg)
		return
	}
	q := r.URL.Query()
	resource := q.Get("resource")
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	tok, err := s.opts.Credential.GetToken(ctx, core.TokenRequest{Scopes: []string{scopeOf(resource)}})
	if err != nil {
		// The chain's error names flows and variables, never a secret.
		status := http.StatusInternalServerError
		if core.KindOf(err) != core.KindFailed {
			status = http.StatusServiceUnavailable
		}
		log.Int("status", status).Err(err).Msg("identity endpoint: no token")
		s.writeError(w, status, fmt.Sprintf("profile %q gave no token: %v", s.opts.Profile, err))
		return
	}
	tokenType := tok.TokenType
	if tokenType == "" {
		tokenType = "Bearer"
	}
	body, err := json.Marshal(tokenResponse{
		AccessToken: tok.AccessToken.Reveal(),
		ExpiresOn:   strconv.FormatInt(tok.ExpiresOn.Unix(), 10),
		Resource:    resource,
		TokenType:   tokenType,
		ClientID:    s.opts.ClientID,
	})
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
	log.Int("status", http.StatusOK).Time("expires_on", tok.ExpiresOn).Msg("identity endpoint: token issued")
}

// refuse checks a request before any token is asked for: the status and
// message to refuse it with, or 0.
func (s *Server) refuse(r *http.Request) (int, string) {
	if r.URL.Path != Path {
		return http.StatusNotFound, "not found: the endpoint is " + Path
	}
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, "use GET"
	}
	got := r.Header.Get(HeaderName)
	if got == "" {
		return http.StatusUnauthorized, "missing " + HeaderName + " header: send the value of " + EnvHeader
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.secret.Reveal())) != 1 {
		return http.StatusForbidden, "wrong " + HeaderName + " header"
	}
	if !s.opts.AnyUser {
		if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
			if err := s.sameUser(c); err != nil {
				return http.StatusForbidden, err.Error()
			}
		}
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != APIVersion {
		return http.StatusBadRequest, fmt.Sprintf("api-version %q is not supported: use %s", v, APIVersion)
	}
	resource := q.Get("resource")
	if resource == "" {
		return http.StatusBadRequest, "missing resource parameter"
	}
	if !s.allowed(resource) {
		return http.StatusForbidden, fmt.Sprintf("resource %q is not served for profile %q (allowed: %s)", resource, s.opts.Profile, strings.Join(s.opts.Resources, ", "))
	}
	if id := q.Get("client_id"); id != "" && !strings.EqualFold(id, s.opts.ClientID) {
		return http.StatusBadRequest, fmt.Sprintf("client_id %q: this endpoint serves profile %q, client id %s only", id, s.opts.Profile, s.opts.ClientID)
	}
	for _, p := range []string{"principal_id", "object_id", "mi_res_id", "msi_res_id"} {
		if q.Get(p) != "" {
			return http.StatusBadRequest, fmt.Sprintf("%s: this endpoint serves profile %q only; select it by client_id (%s) or by nothing", p, s.opts.Profile, s.opts.ClientID)
		}
	}
	return 0, ""
}

func (s *Server) allowed(resource string) bool {
	if len(s.opts.Resources) == 0 {
		return true
	}
	return slices.ContainsFunc(s.opts.Resources, func(a string) bool { return SameResource(a, resource) })
}

// SameResource reports whether a and b name the same resource: equal but
// for case and a trailing "/".
func SameResource(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

func (s *Server) writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorResponse{StatusCode: status, Message: msg, CorrelationID: correlationID()})
}

// correlationID is a random id for an error, as App Service gives one.
func correlationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// scopeOf is the scope for an App Service resource: resource/.default.
func scopeOf(resource string) string {
	return strings.TrimRight(strings.TrimSuffix(resource, "/.default"), "/") + "/.default"
}
