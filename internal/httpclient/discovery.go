package httpclient

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// A cold token request asks the identity provider twice: once for its
// discovery document (the OpenID configuration, or Entra's instance
// discovery), once for the token. The documents change rarely, so the
// host keeps them for a day in its store and hands them to the plugin
// (plugin protocol 3), and the plugin answers those GETs from them: a
// miss in a new process then makes one request, the token request.
// Discovery answers the plugin had to fetch go back to the host, which
// keeps them for the next process.

// DiscoveryMaxAge is how long a discovery answer is used.
const DiscoveryMaxAge = 24 * time.Hour

// Bounds on what one process keeps: discovery documents are a few KiB,
// and a flow talks to one or two authorities.
const (
	maxDiscoveryEntries = 32
	maxDiscoveryBody    = 64 << 10
)

// DiscoveryEntry is one discovery answer: the body of a successful GET of
// URL. The host stores a list of them as JSON.
type DiscoveryEntry struct {
	URL       string    `json:"url"`
	Body      []byte    `json:"body"`
	FetchedOn time.Time `json:"fetched_on"`
}

// Discovery is a process's discovery answers. It is off (every request
// goes to the network) until Seed is called: only the plugin runtime
// turns it on, so that flows used in-process behave as MSAL does alone.
// It is safe for concurrent use.
type Discovery struct {
	mu      sync.Mutex
	enabled bool
	known   map[string]DiscoveryEntry
	fresh   map[string]DiscoveryEntry // fetched since the last Drain
	now     func() time.Time
}

// SharedDiscovery is the process's Discovery, used by every client from
// New and NewManagedIdentity.
var SharedDiscovery = &Discovery{}

func (d *Discovery) clock() time.Time {
	if d.now != nil {
		return d.now()
	}
	return time.Now()
}

// Seed turns d on and adds entries (the host's, fetched less than
// DiscoveryMaxAge ago; older ones are ignored).
func (d *Discovery) Seed(entries []DiscoveryEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.enabled = true
	if d.known == nil {
		d.known = map[string]DiscoveryEntry{}
	}
	now := d.clock()
	for _, e := range entries {
		if usable(e, now) && (len(d.known) < maxDiscoveryEntries || d.has(e.URL)) {
			d.known[e.URL] = e
		}
	}
}

func (d *Discovery) has(url string) bool { _, ok := d.known[url]; return ok }

// Drain returns the answers fetched from the network since the last
// Drain, for the host to keep.
func (d *Discovery) Drain() []DiscoveryEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DiscoveryEntry, 0, len(d.fresh))
	for _, e := range d.fresh {
		out = append(out, e)
	}
	d.fresh = nil
	return out
}

func usable(e DiscoveryEntry, now time.Time) bool {
	age := now.Sub(e.FetchedOn)
	return e.URL != "" && len(e.Body) > 0 && len(e.Body) <= maxDiscoveryBody && age >= -time.Minute && age < DiscoveryMaxAge
}

// isDiscovery reports whether req asks for a discovery document: an
// OpenID configuration or Entra's instance discovery. Nothing that
// carries a credential or a user's name is one.
func isDiscovery(req *http.Request) bool {
	if req.Method != http.MethodGet || req.Header.Get("Authorization") != "" {
		return false
	}
	p := req.URL.Path
	return strings.HasSuffix(p, "/.well-known/openid-configuration") || strings.HasSuffix(p, "/discovery/instance")
}

// lookup returns the answer for url if d is on and holds a usable one.
func (d *Discovery) lookup(url string) ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.enabled {
		return nil, false
	}
	e, ok := d.known[url]
	if !ok || !usable(e, d.clock()) {
		return nil, false
	}
	return e.Body, true
}

// record keeps a fetched answer, if d is on.
func (d *Discovery) record(url string, body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.enabled || len(body) == 0 || len(body) > maxDiscoveryBody || (len(d.known) >= maxDiscoveryEntries && !d.has(url)) {
		return
	}
	e := DiscoveryEntry{URL: url, Body: body, FetchedOn: d.clock()}
	d.known[url] = e
	if d.fresh == nil {
		d.fresh = map[string]DiscoveryEntry{}
	}
	d.fresh[url] = e
}

// discoveryTransport answers discovery GETs from a Discovery and records
// the ones it had to send.
type discoveryTransport struct {
	next http.RoundTripper
	d    *Discovery
}

func (t *discoveryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !isDiscovery(req) {
		return t.next.RoundTrip(req)
	}
	url := req.URL.String()
	if body, ok := t.d.lookup(url); ok {
		return &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Content-Type": {"application/json"}},
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
			Request:       req,
		}, nil
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	// Read it whole (bounded) to keep a copy, then hand it on.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBody+1))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the discovery answer of %s: %w", req.URL.Redacted(), err)
	}
	t.d.record(url, body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
