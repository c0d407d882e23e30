package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/credhost/credhost/internal/httpclient"
)

// newHTTPClient returns the client MSAL sends identity requests with: the
// system roots plus caPEM (the profile's ca_file: the emulator's CA in
// tests), no proxy, and, if imdsTarget is set, IMDS requests sent there
// instead of the link-local address. MSAL v1.10.1 has no setting for the
// IMDS endpoint (it always asks http://169.254.169.254), so its HTTP
// client is the one place to change it. Without imdsTarget the transport
// is a bare *http.Transport, which MSAL requires for Service Fabric (it
// pins the endpoint's certificate on a clone).
func newHTTPClient(caPEM []byte, imdsTarget *url.URL) (*http.Client, error) {
	base, err := httpclient.New(caPEM)
	if err != nil {
		return nil, err
	}
	var roots *tls.Config
	if tr, ok := httpclient.BaseTransport(base); ok {
		roots = tr.TLSClientConfig.Clone()
	}
	tr := &http.Transport{
		// Identity endpoints are link-local or loopback: a proxy
		// (HTTPS_PROXY) could not reach them, and must not see the
		// identity header.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: httpclient.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     roots,
		TLSHandshakeTimeout: httpclient.TLSHandshakeTimeout,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 4,
	}
	if imdsTarget == nil {
		return &http.Client{Transport: tr}, nil
	}
	return &http.Client{Transport: imdsRedirect{target: imdsTarget, next: tr}}, nil
}

// imdsRedirect sends MSAL's IMDS requests to target, keeping their query
// (api-version, resource, the identity) and headers (Metadata: true).
type imdsRedirect struct {
	target *url.URL
	next   http.RoundTripper
}

func (t imdsRedirect) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Hostname() != imdsHost {
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.URL.Path, r.URL.RawPath = t.target.Scheme, t.target.Host, t.target.Path, t.target.RawPath
	r.Host = ""
	return t.next.RoundTrip(r)
}
