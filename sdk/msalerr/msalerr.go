// Package msalerr turns the errors MSAL Go returns into classified
// *core.Error values: the AADSTS code, OAuth error, correlation and trace
// ids and claims challenge from Entra ID's error response, the kind and
// hint from core's AADSTS table, and clear kinds for cancellation and
// network failures. Messages never carry a request body, a secret or a
// token.
package msalerr

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/boundedio"
	"github.com/credhost/credhost/internal/httpclient"
)

// Hints for failures that are not Entra ID error responses.
const (
	HintNetwork     = "the identity provider could not be reached; check the network, proxy (HTTPS_PROXY) and the authority URL"
	HintTLS         = "the identity provider's TLS certificate is not trusted; if a TLS-inspecting proxy or the emulator sits in between, add its CA with ca_file in the profile, or without a config file with CREDHOST_CA_FILE (or SSL_CERT_FILE, which replaces the system roots)"
	HintThrottled   = "the identity provider is throttling requests (HTTP 429); retry later"
	HintServer      = "the identity provider had a server error; retry later"
	HintInteraction = "the identity provider requires user interaction; use an interactive flow (authcode or devicecode)"
	HintHandshake   = "the TLS handshake with the identity provider failed on its side (the server, a load balancer or a proxy refused it); retry later, or check any TLS-inspecting proxy"
	HintMalformed   = "the identity provider's answer was malformed or incomplete (a proxy or a service fault); retry later, and report it if it persists"
	HintRefused     = "credhost sends credentials only over https, and never to another site through a redirect; check the authority (and any proxy), and report the endpoint to whoever runs the identity provider"
	HintTooLarge    = "no token or discovery answer comes near this size: a proxy or service fault, or a hostile server; check the authority and any proxy"
)

// interactionCodes are OAuth error codes that always mean the user must
// interact, whatever the AADSTS code.
var interactionCodes = map[string]bool{
	"interaction_required": true,
	"login_required":       true,
	"consent_required":     true,
}

// Entra ID's error response body.
type errorBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	ErrorCodes    []int  `json:"error_codes"`
	CorrelationID string `json:"correlation_id"`
	TraceID       string `json:"trace_id"`
	Claims        string `json:"claims"`
	SubError      string `json:"suberror"`
}

// Classify returns err as a *core.Error of flow. nil stays nil. A
// *core.Error is returned as is (its Flow filled in if empty) and a
// *core.ConfigError unchanged. Entra ID error responses keep their AADSTS
// code, OAuth code, ids and claims, with kind and hint from
// core.LookupAADSTS; "interaction_required" is KindInteractionRequired even
// for an unknown code. Cancellation and deadlines are KindFailed wrapping
// the context error; network and TLS failures are KindFailed with a hint.
// Anything else is KindFailed with a sanitized first line of its text.
func Classify(flow string, err error) error {
	if err == nil {
		return nil
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		if ce.Flow == "" {
			c := *ce
			c.Flow = flow
			return &c
		}
		return ce
	}
	var cfgErr *core.ConfigError
	if errors.As(err, &cfgErr) {
		return cfgErr
	}

	if e := fromCallErr(flow, err); e != nil {
		return e
	}
	if e := fromBadAnswer(flow, err); e != nil {
		return e
	}
	if e := fromGuard(flow, err); e != nil {
		return e
	}

	switch {
	case errors.Is(err, context.Canceled):
		return &core.Error{Kind: core.KindFailed, Flow: flow, Err: fmt.Errorf("token request canceled: %w", context.Canceled)}
	case errors.Is(err, context.DeadlineExceeded):
		return &core.Error{Kind: core.KindFailed, Flow: flow, Err: fmt.Errorf("token request timed out: %w", context.DeadlineExceeded)}
	}

	if e := fromNetErr(flow, err); e != nil {
		// The retrying transport (internal/httpclient) says how many
		// attempts failed; keep that, as a retried failure reads
		// differently from a single one.
		var retried interface{ Attempts() int }
		if errors.As(err, &retried) && retried.Attempts() > 1 {
			e.Err = fmt.Errorf("%w (after %d attempts)", e.Err, retried.Attempts())
		}
		return e
	}
	return &core.Error{Kind: core.KindFailed, Flow: flow, Err: errors.New(sanitize(err.Error()))}
}

// fromCallErr classifies an HTTP error response, or returns nil if err
// holds none.
func fromCallErr(flow string, err error) *core.Error {
	var call msalerrors.CallErr
	var callp *msalerrors.CallErr
	switch {
	case errors.As(err, &call):
	case errors.As(err, &callp) && callp != nil:
		call = *callp
	default:
		return nil
	}
	e := &core.Error{Kind: core.KindFailed, Flow: flow}
	status := 0
	var body []byte
	if call.Resp != nil {
		status = call.Resp.StatusCode
		if call.Resp.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(call.Resp.Body, 1<<20))
			call.Resp.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = bodyFromText(call.Err)
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && (eb.Error != "" || eb.Description != "") {
		e.OAuthCode = eb.Error
		e.CorrelationID = eb.CorrelationID
		e.TraceID = eb.TraceID
		e.Claims = eb.Claims
		if len(eb.ErrorCodes) > 0 {
			e.Code = eb.ErrorCodes[0]
		} else {
			e.Code = core.ParseAADSTS(eb.Description)
		}
		info := core.LookupAADSTS(e.Code)
		e.Kind, e.Hint = info.Kind, info.Hint
		if interactionCodes[eb.Error] {
			e.Kind = core.KindInteractionRequired
			if e.Hint == "" {
				e.Hint = HintInteraction
			}
		}
		msg := firstLine(eb.Description)
		if msg == "" {
			msg = eb.Error
		} else if eb.Error != "" && !strings.Contains(msg, eb.Error) {
			msg = eb.Error + ": " + msg
		}
		e.Err = errors.New(sanitize(msg))
		if e.Hint == "" {
			e.Hint = statusHint(status)
		}
		return e
	}
	// Not an Entra ID error document: say what was called, never the body.
	where := ""
	if call.Req != nil && call.Req.URL != nil {
		u := *call.Req.URL
		u.RawQuery, u.Fragment, u.User = "", "", nil
		where = " from " + call.Req.Method + " " + u.String()
	}
	e.Err = fmt.Errorf("HTTP %d%s", status, where)
	e.Hint = statusHint(status)
	return e
}

// fromGuard classifies what the HTTP client's guard refused
// (internal/httpclient/guard.go): a plain-http or cross-origin request,
// an answer over the size cap. Their texts name the URL and the cap,
// never a body.
func fromGuard(flow string, err error) *core.Error {
	var refused *httpclient.RefusedError
	if errors.As(err, &refused) {
		return &core.Error{Kind: core.KindFailed, Flow: flow, Err: refused, Hint: HintRefused}
	}
	var tooLarge *boundedio.TooLargeError
	if errors.As(err, &tooLarge) {
		return &core.Error{Kind: core.KindFailed, Flow: flow, Err: tooLarge, Hint: HintTooLarge}
	}
	return nil
}

// fromBadAnswer classifies a 200 answer MSAL could not use: JSON that
// does not parse or lacks the expiry (MSAL's InvalidJsonErr, whose text
// holds the raw body after its first line: never kept), or no
// access_token (an untyped MSAL error, matched by its text because MSAL
// offers nothing else). It returns nil for anything else.
func fromBadAnswer(flow string, err error) *core.Error {
	var jsonErr msalerrors.InvalidJsonErr
	var jsonErrp *msalerrors.InvalidJsonErr
	missing := strings.Contains(err.Error(), "response is missing access_token")
	if !errors.As(err, &jsonErr) && !(errors.As(err, &jsonErrp) && jsonErrp != nil) && !missing {
		return nil
	}
	what := "the answer is not valid JSON"
	switch {
	case missing:
		what = "the answer has no access_token"
	case strings.Contains(err.Error(), "expires_in and expires_on are both missing"):
		what = "the answer has no expires_in"
	}
	return &core.Error{Kind: core.KindFailed, Flow: flow, Hint: HintMalformed,
		Err: errors.New("unusable token response from the identity provider: " + what)}
}

// bodyFromText recovers an error response from the text of a CallErr.
// MSAL Go reads some response bodies itself before returning the error
// (v1.10.1: the device code loop's isWaitDeviceCodeErr drains
// Resp.Body), but its comm client always puts the body after the first
// line of the error text ("http call(...) error: reply status code was
// 400:\n{...}").
func bodyFromText(err error) []byte {
	if err == nil {
		return nil
	}
	_, rest, ok := strings.Cut(err.Error(), "\n")
	if !ok {
		return nil
	}
	return []byte(strings.TrimSpace(rest))
}

func statusHint(status int) string {
	switch {
	case status == 429:
		return HintThrottled
	case status >= 500:
		return HintServer
	}
	return ""
}

// fromNetErr classifies transport failures, or returns nil.
func fromNetErr(flow string, err error) *core.Error {
	var (
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		recErr     tls.RecordHeaderError
		dnsErr     *net.DNSError
		opErr      *net.OpError
		urlErr     *url.Error
	)
	tlsErr := func(inner error) *core.Error {
		return &core.Error{Kind: core.KindFailed, Flow: flow, Hint: HintTLS,
			Err: fmt.Errorf("TLS handshake with the identity provider failed: %w", inner)}
	}
	switch {
	case errors.As(err, &certErr):
		return tlsErr(certErr)
	case errors.As(err, &unknownCA):
		return tlsErr(unknownCA)
	case errors.As(err, &hostErr):
		return tlsErr(hostErr)
	case errors.As(err, &invalidErr):
		return tlsErr(invalidErr)
	case errors.As(err, &recErr):
		return tlsErr(recErr)
	case errors.As(err, &dnsErr):
		return &core.Error{Kind: core.KindFailed, Flow: flow, Hint: HintNetwork, Err: fmt.Errorf("network: %w", dnsErr)}
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// The peer sent a TLS alert during the handshake (crypto/tls
		// reports those as OpError "remote error").
		return &core.Error{Kind: core.KindFailed, Flow: flow, Hint: HintHandshake,
			Err: fmt.Errorf("TLS handshake with the identity provider failed: %w", opErr)}
	case errors.As(err, &opErr):
		return &core.Error{Kind: core.KindFailed, Flow: flow, Hint: HintNetwork, Err: fmt.Errorf("network: %w", opErr)}
	case errors.As(err, &urlErr):
		// A transport failure without a typed cause (EOF, reset, timeout
		// awaiting headers). The URL carries no secret; the body is not in it.
		u := urlErr.URL
		if pu, perr := url.Parse(u); perr == nil {
			pu.RawQuery, pu.User = "", nil
			u = pu.String()
		}
		return &core.Error{Kind: core.KindFailed, Flow: flow, Hint: HintNetwork,
			Err: fmt.Errorf("network: %s %s: %s", urlErr.Op, u, sanitize(urlErr.Err.Error()))}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// tokenLike matches JWTs and other long opaque credentials.
var tokenLike = regexp.MustCompile(`[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*|[A-Za-z0-9+/_\-]{40,}={0,2}`)

// sanitize keeps the first line of s, redacts anything token-like and
// caps the length. MSAL puts response bodies (which may hold tokens) after
// the first line of some errors.
func sanitize(s string) string {
	s = firstLine(s)
	s = tokenLike.ReplaceAllString(s, "[redacted]")
	const max = 400
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	if s == "" {
		s = "unexpected error"
	}
	return s
}
