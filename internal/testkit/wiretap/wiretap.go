// Package wiretap records the bodies a flow exchanges with the identity
// provider, for tests that must prove none of those secrets (assertions,
// codes, tokens) reaches a log or an error.
package wiretap

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Tap is an http.RoundTripper that records every request and response
// body passing through Base, and the credential of each request's
// Authorization header (a Negotiate token, say) without its scheme. It is
// safe for concurrent use.
type Tap struct {
	Base http.RoundTripper

	mu     sync.Mutex
	bodies []string
}

// RoundTrip implements http.RoundTripper.
func (t *Tap) RoundTrip(req *http.Request) (*http.Response, error) {
	if a := req.Header.Get("Authorization"); a != "" {
		_, cred, _ := strings.Cut(a, " ")
		t.add(cred)
	}
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(b))
		t.add(string(b))
	}
	resp, err := t.Base.RoundTrip(req)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		t.add(string(b))
	}
	return resp, err
}

func (t *Tap) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bodies = append(t.bodies, s)
}

// All returns the bodies recorded so far, in order.
func (t *Tap) All() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.bodies...)
}

// Values returns the values of key in a recorded JSON body ("key":"v")
// or form body (key=v): the secrets a canary test then looks for.
func Values(body, key string) []string {
	var out []string
	for _, sep := range []string{`"` + key + `":"`, key + "="} {
		rest := body
		for {
			i := strings.Index(rest, sep)
			if i < 0 {
				break
			}
			rest = rest[i+len(sep):]
			end := strings.IndexAny(rest, `"&`)
			if end < 0 {
				end = len(rest)
			}
			out = append(out, rest[:end])
		}
	}
	return out
}
