package emulator

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxBodySize bounds every request body.
const maxBodySize = 1 << 20

// route is one endpoint: a ServeMux pattern (without method), the methods
// it accepts, a name for counters, faults and logs, and optionally extra,
// which names more counters for a request (a POST body is parsed by then).
// A route without methods is the not-found fallback: no counters, no
// faults.
type route struct {
	name    string
	pattern string
	methods []string
	handle  http.HandlerFunc
	extra   func(r *http.Request) []string
}

// routes builds the mux. Each endpoint lives in its own file; later
// endpoints are added here.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range []route{
		{name: "discovery", pattern: "/{tenant}/v2.0/.well-known/openid-configuration", methods: []string{http.MethodGet}, handle: s.handleDiscovery},
		{name: "discovery_v1", pattern: "/{tenant}/.well-known/openid-configuration", methods: []string{http.MethodGet}, handle: s.handleDiscoveryV1},
		{name: "adfs_discovery", pattern: "/adfs/.well-known/openid-configuration", methods: []string{http.MethodGet}, handle: s.handleADFSDiscovery},
		{name: "keys", pattern: "/{tenant}/discovery/v2.0/keys", methods: []string{http.MethodGet}, handle: s.handleKeys},
		{name: "keys_v1", pattern: "/{tenant}/discovery/keys", methods: []string{http.MethodGet}, handle: s.handleKeys},
		{name: "adfs_keys", pattern: "/adfs/discovery/keys", methods: []string{http.MethodGet}, handle: s.handleFederationKeys},
		{name: "instance_discovery", pattern: "/common/discovery/instance", methods: []string{http.MethodGet}, handle: s.handleInstanceDiscovery},
		{name: "token", pattern: "/{tenant}/oauth2/v2.0/token", methods: []string{http.MethodPost}, handle: s.handleToken, extra: s.tokenCounterKeys},
		{name: "devicecode", pattern: "/{tenant}/oauth2/v2.0/devicecode", methods: []string{http.MethodPost}, handle: s.handleDeviceCode},
		{name: "authorize", pattern: "/{tenant}/oauth2/v2.0/authorize", methods: []string{http.MethodGet, http.MethodPost}, handle: s.handleAuthorize},
		{name: "devicelogin", pattern: "/devicelogin", methods: []string{http.MethodGet, http.MethodPost}, handle: s.handleDeviceLogin},
		{name: "user_realm", pattern: "/common/userrealm/{user}", methods: []string{http.MethodGet}, handle: s.handleUserRealm},
		{name: "mex", pattern: mexPath, methods: []string{http.MethodGet}, handle: s.handleMEX},
		{name: "wstrust", pattern: "/adfs/services/trust/{version}/{endpoint}", methods: []string{http.MethodPost}, handle: s.handleWSTrust},
		{name: "federation_discovery", pattern: "/federation/.well-known/openid-configuration", methods: []string{http.MethodGet}, handle: s.handleFederationDiscovery},
		{name: "federation_keys", pattern: "/federation/keys", methods: []string{http.MethodGet}, handle: s.handleFederationKeys},
		{name: "federation_token", pattern: FederationTokenPath, methods: []string{http.MethodPost}, handle: s.handleFederationToken},
		{name: "imds", pattern: IMDSPath, methods: []string{http.MethodGet}, handle: s.handleIMDS},
		{name: "appservice", pattern: AppServicePath, methods: []string{http.MethodGet}, handle: s.handleAppServiceIdentity},
	} {
		mux.Handle(rt.pattern, s.endpoint(rt))
	}
	mux.Handle("/", s.endpoint(route{name: "not_found", handle: s.handleNotFound}))
	return mux
}

// requestInfo is what the request log line reports. Handlers fill it in;
// it is used by one goroutine at a time.
type requestInfo struct {
	correlationID string
	traceID       string
	tenant        string
	clientID      string
	grant         string
	aadsts        int
	fault         bool
	// formErr is the error from parsing a POST body, which the wrapper
	// does before counting.
	formErr error
}

type infoKey struct{}

// infoFrom returns the request's info; a throwaway value if there is none.
func infoFrom(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// endpoint wraps rt.handle with what every endpoint does, in order: method
// check, body limit, correlation ids, counters, faults, and a debug log
// line.
func (s *Server) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{correlationID: r.Header.Get("client-request-id"), traceID: newGUID()}
		if !isSafeID(info.correlationID) {
			info.correlationID = newGUID()
		}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		r.Body = http.MaxBytesReader(w, r.Body, maxBodySize)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		w = rec
		s.counters.add(CountAll)
		w.Header().Set("client-request-id", info.correlationID)
		w.Header().Set("x-ms-request-id", info.traceID)
		defer func() {
			ev := s.log.Debug().
				Str("method", r.Method).
				Str("path", r.URL.Path).
				Str("endpoint", rt.name).
				Int("status", rec.status).
				Int64("duration_ms", time.Since(start).Milliseconds()).
				Str("correlation_id", info.correlationID)
			if info.tenant != "" {
				ev = ev.Str("tenant", info.tenant)
			}
			if info.clientID != "" {
				ev = ev.Str("client_id", info.clientID)
			}
			if info.grant != "" {
				ev = ev.Str("grant_type", info.grant)
			}
			if info.aadsts != 0 {
				ev = ev.Int("aadsts", info.aadsts)
			}
			if info.fault {
				ev = ev.Bool("fault", true)
			}
			ev.Msg("request")
		}()

		if len(rt.methods) > 0 && !slices.Contains(rt.methods, r.Method) {
			allow := strings.Join(rt.methods, ", ")
			w.Header().Set("Allow", allow)
			s.writeError(w, r, newError(http.StatusMethodNotAllowed, "invalid_request", 90023,
				"The authentication service request isn't valid: method %s is not allowed; use %s.", r.Method, allow))
			return
		}
		if r.Method == http.MethodPost {
			info.formErr = r.ParseForm()
		}
		if len(rt.methods) > 0 {
			keys := []string{rt.name}
			if rt.extra != nil {
				keys = append(keys, rt.extra(r)...)
			}
			s.counters.add(keys...)
			if s.applyFault(w, r, rt.name, rt.handle) {
				return
			}
		}
		rt.handle(w, r)
	})
}

// caseInsensitive routes a request whose path matches no endpoint as sent
// by its lower-case path, as Entra ID's paths are case-insensitive (MSAL
// Go asks /common/UserRealm/..., MSAL Python /common/userrealm/...).
// Patterns are registered in lower case; wildcards then see lower-case
// values, which only name case-insensitive things (tenants, usernames).
func caseInsensitive(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "/" {
			if lower := strings.ToLower(r.URL.Path); lower != r.URL.Path {
				r2 := new(http.Request)
				*r2 = *r
				u := *r.URL
				u.Path, u.RawPath = lower, ""
				r2.URL = &u
				if _, p := mux.Handler(r2); p != "/" {
					mux.ServeHTTP(w, r2)
					return
				}
			}
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{
		"error":             "not_found",
		"error_description": fmt.Sprintf("The emulator has no endpoint %s %s.", r.Method, r.URL.Path),
	})
}

// statusRecorder remembers the status for the log line. Unwrap lets
// http.ResponseController reach Hijack and Flush.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeJSON writes v with the headers Entra ID sends on token responses.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// publicHost is the host to put in URLs and issuers for r: its Host header
// if the server certificate covers it, else the listening address.
func (s *Server) publicHost(r *http.Request) string {
	if r.Host != "" && s.pki.knownHost(r.Host) {
		return r.Host
	}
	if u := s.URL(); u != "" {
		return u[len("https://"):]
	}
	return "localhost"
}

// isSafeID reports whether a client-supplied id is short and plain enough
// to echo in headers, bodies and logs.
func isSafeID(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// newGUID returns a random version 4 GUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
