package httpclient

// Why a guarding transport.
//
// The flows hand this client to MSAL and to internal/federation, which
// follow whatever URLs the identity provider names: the token endpoint
// from discovery, redirects, device code and WS-Trust endpoints. An IdP
// that is hostile, broken or impersonated could name a plain-http URL
// (the client secret would travel in clear), redirect a token request to
// another site (a 307 replays the body, secret included), or answer with
// an endless body (MSAL reads every answer with io.ReadAll). The rules
// live here, beneath MSAL, because MSAL offers no hook for them:
//
//   - HTTPS only. Plain HTTP is refused before anything is sent, except
//     from a client of NewManagedIdentity (whose endpoints are plain
//     HTTP on the machine by design) to a loopback or link-local address;
//   - a redirect never downgrades (the HTTPS rule above applies to it)
//     and never carries credentials to another origin: a redirect to
//     another scheme, host or port of a request that had a body or an
//     Authorization header is refused;
//   - every answer's body is capped (MaxResponseBody): more is an error
//     naming the URL and the cap, read without holding more than the cap;
//   - an error answer (status 400 and up) has every secret the request
//     carried (client_secret, password, assertion, refresh token, code,
//     Authorization) replaced by "[redacted]", so an IdP that echoes one
//     in its error_description cannot put it in an error or a log.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/credhost/credhost/internal/boundedio"
)

// MaxResponseBody caps the body of every answer read through the client.
// Token, device code and discovery answers are a few KiB, AD FS metadata
// (MEX) some tens of KiB.
const MaxResponseBody = 1 << 20

// Redacted replaces a secret echoed in an error answer.
const Redacted = "[redacted]"

// RefusedError is a request the client refuses to send: plain HTTP, or a
// redirect that would carry credentials to another origin.
type RefusedError struct {
	// URL is the refused target, without query or user information.
	URL string
	// Reason says why, for the user.
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to send a request to %s: %s", e.URL, e.Reason)
}

// guardTransport enforces the rules at the top of this file over next.
type guardTransport struct {
	next           http.RoundTripper
	localPlainHTTP bool
	maxBody        int64
}

// RoundTrip implements http.RoundTripper.
func (t *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.check(req); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	name := "the answer from " + displayURL(req.URL)
	if resp.ContentLength > t.maxBody {
		_ = resp.Body.Close()
		return nil, &boundedio.TooLargeError{Name: name, Limit: t.maxBody}
	}
	body := boundedio.LimitReader(resp.Body, t.maxBody, name)
	if resp.StatusCode >= 400 {
		if secrets := requestSecrets(req); len(secrets) > 0 {
			b, err := io.ReadAll(body)
			_ = resp.Body.Close()
			if err != nil {
				return nil, err
			}
			b = scrub(b, secrets)
			resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			resp.Header.Del("Content-Length")
			return resp, nil
		}
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{body, resp.Body}
	return resp, nil
}

// check applies the HTTPS and redirect rules to req.
func (t *guardTransport) check(req *http.Request) error {
	u := req.URL
	if !strings.EqualFold(u.Scheme, "https") && !(t.localPlainHTTP && strings.EqualFold(u.Scheme, "http") && isLocal(u.Hostname())) {
		reason := "only https is allowed for the identity provider"
		if req.Response != nil {
			reason = "a redirect from " + displayURL(req.Response.Request.URL) + " to a URL that is not https"
		}
		return &RefusedError{URL: displayURL(u), Reason: reason}
	}
	if req.Response == nil || req.Response.Request == nil {
		return nil
	}
	prev := req.Response.Request
	if sameOrigin(prev.URL, u) {
		return nil
	}
	hasBody := prev.Body != nil && prev.Body != http.NoBody || prev.ContentLength > 0
	if hasBody || prev.Header.Get("Authorization") != "" {
		return &RefusedError{URL: displayURL(u), Reason: fmt.Sprintf("a redirect (HTTP %d) from %s to another origin would carry the request's credentials there",
			req.Response.StatusCode, displayURL(prev.URL))}
	}
	return nil
}

// isLocal reports whether host is a loopback or link-local address, or
// localhost.
func isLocal(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsLinkLocalUnicast())
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// displayURL is u without user information, query or fragment, which
// may hold credentials.
func displayURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

// secretFields are the form fields of OAuth and Entra ID requests that
// carry a credential.
var secretFields = []string{"client_secret", "client_assertion", "assertion", "password", "refresh_token",
	"code", "code_verifier", "device_code", "user_assertion"}

// minSecret is the shortest value scrubbed: shorter ones would redact
// ordinary words of the answer and are no secret worth the name.
const minSecret = 4

// requestSecrets returns the credentials req carried in its form body or
// Authorization header.
func requestSecrets(req *http.Request) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minSecret {
			out = append(out, s)
		}
	}
	if a := req.Header.Get("Authorization"); a != "" {
		scheme, cred, _ := strings.Cut(a, " ")
		add(cred)
		if strings.EqualFold(scheme, "Basic") {
			if dec, err := base64.StdEncoding.DecodeString(cred); err == nil {
				user, pass, _ := strings.Cut(string(dec), ":")
				add(user + ":" + pass)
				add(pass)
			}
		}
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		if form, ok := peekForm(req); ok {
			for _, f := range secretFields {
				for _, v := range form[f] {
					add(v)
				}
			}
		}
	}
	return out
}

// scrub replaces each secret in b, as it is and in the encodings an
// answer may echo it in (JSON string escapes, URL encoding).
func scrub(b []byte, secrets []string) []byte {
	for _, s := range secrets {
		for _, form := range encodings(s) {
			b = bytes.ReplaceAll(b, []byte(form), []byte(Redacted))
		}
	}
	return b
}

func encodings(s string) []string {
	forms := []string{s, url.QueryEscape(s), url.PathEscape(s)}
	var buf bytes.Buffer
	for _, html := range []bool{true, false} {
		buf.Reset()
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(html)
		if enc.Encode(s) == nil {
			forms = append(forms, strings.TrimSuffix(strings.TrimSpace(buf.String()), `"`)[1:])
		}
	}
	// Escaped slashes, as some JSON writers emit them.
	forms = append(forms, strings.ReplaceAll(s, "/", `\/`))
	return forms
}

// CloseIdleConnections passes http.Client.CloseIdleConnections on.
func (t *guardTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Interface guards.
var _ http.RoundTripper = (*guardTransport)(nil)
