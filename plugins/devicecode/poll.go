package main

// Why the polling lives in an http.RoundTripper.
//
// MSAL Go (v1.10.1, apps/internal/oauth/oauth.go DeviceCode.Token) polls
// on its own schedule: 50ms, then three times longer each time up to 5s,
// whatever `interval` the server asked for; it does not add 5s after
// slow_down, and any network error or 5xx ends the flow (MSAL Go issue
// #15). Its API has no option for any of this. We still want MSAL for the
// rest (the device code request, the token response, the account and the
// cache), so the flow hands MSAL an HTTP client whose transport owns the
// polling: when MSAL sends its first device_code grant request, the
// transport runs the whole RFC 8628 loop itself (section 3.4/3.5) and
// answers MSAL only with the final response: the tokens, or a terminal
// error such as expired_token. MSAL's loop therefore makes exactly one
// call, and the schedule is ours:
//
//   - the first poll goes out `interval` after the device code arrived,
//     and each next one `interval` after the previous answer;
//   - slow_down adds 5s to the interval for the rest of the polling;
//   - a network failure, HTTP 429 or 5xx is retried with exponential
//     backoff (interval doubled per consecutive failure, capped; 429/503
//     Retry-After honoured), up to maxFailures in a row;
//   - polling stops when the code expires (errCodeExpired) and as soon as
//     the request context ends: every wait selects on it, and the
//     in-flight request is cancelled by it, so Ctrl-C stops polling at
//     once. MSAL's own wait also selects on the context (checked in
//     v1.10.1), and it bounds the context by the code's expiry.
//
// The transport finds the polling state of a call in the request context
// (withPoll), so concurrent sign-ins do not share anything, and requests
// that are not device code polls pass through untouched.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Polling limits.
const (
	// slowDownStep is what RFC 8628 section 3.5 adds after slow_down.
	slowDownStep = 5 * time.Second
	// maxFailures is how many transient failures in a row are retried.
	maxFailures = 5
	// maxBackoff caps the wait after a transient failure.
	maxBackoff = time.Minute
	// maxErrorBody bounds how much of an error answer is read.
	maxErrorBody = 64 << 10
)

// errCodeExpired ends polling when the device code expires.
var errCodeExpired = errors.New("devicecode: the device code expired")

// poll is the polling state of one device code. It is safe for
// concurrent use, though MSAL polls from one goroutine.
type poll struct {
	expires  time.Time // zero: no expiry known
	lifetime time.Duration
	now      func() time.Time

	mu        sync.Mutex
	interval  time.Duration
	next      time.Time // no request before this
	polls     int
	slowDowns int
	expired   bool
}

// newPoll starts polling state for a device code that asks for interval
// (whole seconds; at least 1s is used) and expires at expires.
func newPoll(interval time.Duration, expires time.Time) *poll {
	p := &poll{expires: expires, now: time.Now, interval: max(interval, time.Second)}
	now := p.now()
	p.next = now.Add(p.interval)
	if !expires.IsZero() {
		p.lifetime = expires.Sub(now)
	}
	return p
}

type pollKey struct{}

// withPoll returns ctx whose device code polls follow p.
func withPoll(ctx context.Context, p *poll) context.Context {
	return context.WithValue(ctx, pollKey{}, p)
}

// stats returns how many polls went out, how many slow_down answers came
// and the interval now.
func (p *poll) stats() (polls, slowDowns int, interval time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.polls, p.slowDowns, p.interval
}

// hasExpired reports whether polling stopped because the code expired.
func (p *poll) hasExpired() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.expired || (!p.expires.IsZero() && !p.now().Before(p.expires))
}

// wait blocks until the next poll may go out. It returns errCodeExpired
// when the code expires first, and the context's error when it ends.
func (p *poll) wait(ctx context.Context) error {
	p.mu.Lock()
	until, expiring := p.next, false
	if !p.expires.IsZero() && !until.Before(p.expires) {
		until, expiring = p.expires, true
	}
	p.mu.Unlock()
	if d := until.Sub(p.now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	if expiring {
		p.mu.Lock()
		p.expired = true
		p.mu.Unlock()
		return errCodeExpired
	}
	return nil
}

// answered schedules the next poll after an answer at now; slowDown adds
// RFC 8628's 5 seconds to the interval first.
func (p *poll) answered(now time.Time, slowDown bool) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slowDown {
		p.slowDowns++
		p.interval += slowDownStep
	}
	p.next = now.Add(p.interval)
	return p.interval
}

// failed schedules a retry after the n-th transient failure in a row:
// the interval doubled n times, capped, and at least retryAfter.
func (p *poll) failed(now time.Time, n int, retryAfter time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.interval
	for i := 0; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = max(min(d, maxBackoff), retryAfter)
	p.next = now.Add(d)
	return d
}

func (p *poll) sent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls++
	return p.polls
}

// pollTransport runs RFC 8628 polling for the device_code grant requests
// whose context carries a poll (see the comment at the top of the file);
// every other request goes to base as is.
type pollTransport struct {
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *pollTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p, ok := req.Context().Value(pollKey{}).(*poll)
	if !ok || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/token") {
		return t.base.RoundTrip(req)
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	if form, _ := url.ParseQuery(string(body)); !isDeviceCodeGrant(form.Get("grant_type")) {
		req.Body = io.NopCloser(bytes.NewReader(body))
		return t.base.RoundTrip(req)
	}
	return t.poll(req, body, p)
}

func isDeviceCodeGrant(gt string) bool {
	return gt == "device_code" || gt == "urn:ietf:params:oauth:grant-type:device_code"
}

// poll sends req (with body) until it gets an answer that is not
// authorization_pending or slow_down, the code expires, or the context
// ends.
func (t *pollTransport) poll(req *http.Request, body []byte, p *poll) (*http.Response, error) {
	ctx := req.Context()
	log := zerolog.Ctx(ctx)
	failures := 0
	for {
		if err := p.wait(ctx); err != nil {
			return nil, err
		}
		n := p.sent()
		attempt := req.Clone(ctx)
		attempt.Body = io.NopCloser(bytes.NewReader(body))
		attempt.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		attempt.ContentLength = int64(len(body))
		resp, err := t.base.RoundTrip(attempt)
		now := p.now()
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return nil, cerr
			}
			if !transient(err) || failures >= maxFailures {
				return nil, err
			}
			failures++
			d := p.failed(now, failures, 0)
			log.Debug().Int("poll", n).Str("error", err.Error()).Dur("retry_in", d).Msg("devicecode: poll failed; retrying")
			continue
		}
		switch {
		case resp.StatusCode == http.StatusBadRequest:
			code, err := oauthError(resp)
			if err != nil {
				return nil, err
			}
			switch code {
			case "authorization_pending", "slow_down":
				failures = 0
				d := p.answered(now, code == "slow_down")
				log.Debug().Int("poll", n).Str("answer", code).Dur("interval", d).Msg("devicecode: waiting for the user")
				continue
			}
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			if failures >= maxFailures {
				return resp, nil
			}
			failures++
			retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), now)
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			_ = resp.Body.Close()
			d := p.failed(now, failures, retryAfter)
			log.Debug().Int("poll", n).Int("status", resp.StatusCode).Dur("retry_in", d).Msg("devicecode: server busy; retrying")
			continue
		}
		return resp, nil
	}
}

// readBody returns the request body, leaving req readable again.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err == nil {
			defer rc.Close()
			return io.ReadAll(rc)
		}
	}
	b, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b, err
}

// oauthError reads the "error" of a 400 answer and puts the body back for
// MSAL.
func oauthError(resp *http.Response) (string, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("read the token endpoint's answer: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return e.Error, nil
}

// transient reports whether a transport error is worth a retry: anything
// but a certificate the client does not trust.
func transient(err error) bool {
	var (
		certErr   *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return !errors.As(err, &certErr) && !errors.As(err, &unknownCA) && !errors.As(err, &hostErr) && !errors.As(err, &invalid)
}

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date);
// 0 if absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, maxBackoff)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxBackoff)
	}
	return 0
}

// Interface guards.
var _ http.RoundTripper = (*pollTransport)(nil)
