package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"time"
)

// newHTTPClient returns the client MSAL sends identity requests with:
// the system roots plus caPEM (the profile's ca_file: the emulator's CA
// in tests), and, if imdsTarget is set, requests for the link-local IMDS
// address sent there instead. MSAL v1.10.1 has no setting for the IMDS
// endpoint (it always asks http://169.254.169.254), so its HTTP client is
// the one place to change it.
func newHTTPClient(caPEM []byte, imdsTarget *url.URL) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if len(caPEM) > 0 && !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no PEM certificate in the CA file")
	}
	tr := &http.Transport{
		// Identity endpoints are link-local or loopback: a proxy
		// (HTTPS_PROXY) could not reach them, and must not see the
		// identity header.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 4,
	}
	var rt http.RoundTripper = tr
	if imdsTarget != nil {
		rt = imdsRedirect{target: imdsTarget, next: tr}
	}
	return &http.Client{Transport: rt}, nil
}

// imdsRedirect sends MSAL's IMDS requests to target, keeping their query
// (api-version, resource, the identity) and headers (Metadata: true).
type imdsRedirect struct {
	target *url.URL
	next   http.RoundTripper
}

// imdsHost is the address MSAL's IMDS requests go to.
const imdsHost = "169.254.169.254"

func (t imdsRedirect) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Hostname() != imdsHost {
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.URL.Path, r.URL.RawPath = t.target.Scheme, t.target.Host, t.target.Path, t.target.RawPath
	r.Host = ""
	return t.next.RoundTrip(r)
}
