package httpclient

// Why a retrying transport.
//
// MSAL Go (v1.10.1) sends each request once: a 503 during a deployment
// of the IdP, a 429 with Retry-After, or a connection reset by a proxy
// ends the flow with an error although the next attempt would have
// worked. MSAL has no retry option, so the retries live below it, in
// the HTTP client every flow hands to MSAL (and to internal/federation).
//
// The rules are MSAL.NET's and the Azure SDK's, narrowed by what must
// never be sent twice:
//
//   - retried: HTTP 429, 500, 502, 503 and 504, and transport errors
//     before any response (connection refused or reset, a dropped HTTP/2
//     stream, a failed or timed-out TLS handshake);
//   - never retried: certificate verification failures (the next attempt
//     meets the same certificate), any other status (a 4xx AADSTS answer
//     such as invalid_grant is final), an authorization code redemption
//     (a code is single-use: a second redemption fails, and Entra ID may
//     revoke what the first one issued), a device code poll (the flow's
//     RFC 8628 loop, plugins/devicecode/poll.go, owns its schedule and its
//     retries; stacking both would multiply the polls), a WS-Trust request
//     or one with a Kerberos (Negotiate) header (AD FS reports a wrong
//     password as a SOAP fault with HTTP 500, and every retry would count
//     towards the user's lockout; a Kerberos authenticator is one-shot),
//     and a request whose body cannot be replayed;
//   - bounded: at most MaxAttempts attempts and MaxElapsed in all;
//     waits are exponential with full jitter, or the server's Retry-After
//     (seconds or an HTTP date) when it sends one, up to MaxRetryAfter:
//     a longer Retry-After is not waited for, the 429 is the answer;
//   - the request context bounds everything: no wait outlives it, and a
//     wait that would end after its deadline is not started.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// RetryPolicy bounds the retries of a transport from NewRetryTransport.
// The zero value of a field means its default in DefaultRetryPolicy.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included.
	MaxAttempts int
	// MaxElapsed bounds the time from the first attempt to the start of
	// the last one: a wait that would end later is not started.
	MaxElapsed time.Duration
	// BaseDelay is the backoff before the second attempt; it doubles
	// per attempt, and the wait is drawn uniformly from [0, backoff]
	// (full jitter), so that many clients do not retry in lockstep.
	BaseDelay time.Duration
	// MaxDelay caps one backoff wait.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After that is waited for.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy is the policy of New's client: four attempts within
// 30 seconds, backoff from 250ms up to 8s, Retry-After up to 30s.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:   4,
	MaxElapsed:    30 * time.Second,
	BaseDelay:     250 * time.Millisecond,
	MaxDelay:      8 * time.Second,
	MaxRetryAfter: 30 * time.Second,
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = d.MaxRetryAfter
	}
	return p
}

// maxPeekBody bounds how much of a request body is read to find its
// grant type; token requests are a few KiB at most.
const maxPeekBody = 1 << 20

// maxDrain bounds how much of a retried answer is read before its
// connection is given back.
const maxDrain = 64 << 10

// NewRetryTransport returns base (nil means http.DefaultTransport) with
// retries by policy (nil means DefaultRetryPolicy), following the rules
// at the top of this file. It is safe for concurrent use.
func NewRetryTransport(base http.RoundTripper, policy *RetryPolicy) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	p := DefaultRetryPolicy
	if policy != nil {
		p = policy.withDefaults()
	}
	return &retryTransport{base: base, policy: p, now: time.Now, sleep: sleepCtx, jitter: rand.Int64N}
}

// retryTransport is the transport of NewRetryTransport.
type retryTransport struct {
	base   http.RoundTripper
	policy RetryPolicy
	// Clock, wait and randomness, replaced by tests so that they need
	// no wall-clock waits.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(n int64) int64
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if reason := noRetry(req); reason != "" {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	log := zerolog.Ctx(ctx)
	start := t.now()
	for attempt := 1; ; attempt++ {
		try := req
		if attempt > 1 {
			try = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("httpclient: replay the request body: %w", err)
				}
				try.Body = body
			}
		}
		resp, err := t.base.RoundTrip(try)
		retry, why := false, ""
		switch {
		case err != nil:
			retry, why = retryableError(ctx, err), "transport error"
		default:
			retry, why = retryableStatus(resp.StatusCode), "HTTP "+strconv.Itoa(resp.StatusCode)
		}
		if !retry || attempt >= t.policy.MaxAttempts {
			return resp, annotate(err, attempt)
		}
		wait, ok := t.wait(resp, attempt)
		if !ok {
			// Retry-After beyond the cap: the throttling answer is final.
			return resp, nil
		}
		now := t.now()
		if now.Add(wait).Sub(start) > t.policy.MaxElapsed {
			return resp, annotate(err, attempt)
		}
		if dl, has := ctx.Deadline(); has && now.Add(wait).After(dl) {
			return resp, annotate(err, attempt)
		}
		ev := log.Debug().Int("attempt", attempt).Str("reason", why).Dur("retry_in", wait).Str("host", req.URL.Host)
		if err != nil {
			ev = ev.Str("error", err.Error())
		}
		ev.Msg("httpclient: retrying")
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
			_ = resp.Body.Close()
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// wait returns how long to wait before attempt+1: the answer's
// Retry-After if it has one (false if that is beyond the cap), else the
// jittered backoff.
func (t *retryTransport) wait(resp *http.Response, attempt int) (time.Duration, bool) {
	if resp != nil {
		if ra, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
			if ra > t.policy.MaxRetryAfter {
				return 0, false
			}
			return ra, true
		}
	}
	backoff := t.policy.BaseDelay
	for i := 1; i < attempt && backoff < t.policy.MaxDelay; i++ {
		backoff *= 2
	}
	backoff = min(backoff, t.policy.MaxDelay)
	return time.Duration(t.jitter(int64(backoff) + 1)), true
}

// annotate says how many attempts an error took, keeping it unwrappable.
func annotate(err error, attempts int) error {
	if err == nil || attempts < 2 {
		return err
	}
	return &attemptsError{err: err, attempts: attempts}
}

// attemptsError is a transport error after retries.
type attemptsError struct {
	err      error
	attempts int
}

func (e *attemptsError) Error() string {
	return fmt.Sprintf("%v (after %d attempts)", e.err, e.attempts)
}

func (e *attemptsError) Unwrap() error { return e.err }

// Attempts returns how many attempts were made; sdk/msalerr reads it.
func (e *attemptsError) Attempts() int { return e.attempts }

// noRetry returns why req must be sent only once, or "".
func noRetry(req *http.Request) string {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return "body cannot be replayed"
	}
	if a := req.Header.Get("Authorization"); a != "" {
		scheme, _, _ := strings.Cut(a, " ")
		if strings.EqualFold(scheme, "Negotiate") || strings.EqualFold(scheme, "Kerberos") {
			return "kerberos authenticator"
		}
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	switch {
	case strings.Contains(ct, "soap"):
		return "ws-trust request"
	case ct == "application/x-www-form-urlencoded" && req.GetBody != nil:
		form, ok := peekForm(req)
		if !ok {
			// A form we cannot read could be anything: do not guess.
			return "unreadable form"
		}
		switch form.Get("grant_type") {
		case "authorization_code":
			return "authorization code redemption"
		case "device_code", "urn:ietf:params:oauth:grant-type:device_code":
			return "device code poll"
		}
	}
	return ""
}

// peekForm reads req's form body without consuming it.
func peekForm(req *http.Request) (url.Values, bool) {
	rc, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxPeekBody+1))
	if err != nil || len(b) > maxPeekBody {
		return nil, false
	}
	form, err := url.ParseQuery(string(bytes.TrimSpace(b)))
	return form, err == nil
}

// retryableStatus reports whether an answer with status may be retried.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableError reports whether a transport error (no response) may be
// retried: not when the caller's context ended, not a certificate that
// did not verify, not a peer that does not speak TLS at all.
func retryableError(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var (
		certErr   *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &invalid), errors.As(err, &record):
		return false
	}
	return true
}

// ParseRetryAfter reads a Retry-After header value, delay-seconds or an
// HTTP date, as a duration from now. ok is false if v is empty or
// unreadable; a date in the past is a zero wait.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		// Beyond any cap; also keeps the multiplication from overflowing.
		if s > 1<<31 {
			s = 1 << 31
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if !t.After(now) {
		return 0, true
	}
	return t.Sub(now), true
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CloseIdleConnections closes the idle connections of the base
// transport, so that http.Client.CloseIdleConnections still works.
func (t *retryTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Interface guards.
var _ http.RoundTripper = (*retryTransport)(nil)
