// Package httpclient builds the HTTP client every flow uses to reach the
// identity provider: the system roots plus any extra PEM roots (the
// emulator's CA, a corporate TLS proxy), bounded dial, handshake and
// response-header waits, HTTP/2, the proxy from the environment, bounded
// retries of transient failures (retry.go), discovery answers kept by the
// host (discovery.go), and a guard (guard.go): HTTPS
// only, no redirect that downgrades or carries credentials to another
// origin, capped answers, and secrets scrubbed from error answers.
package httpclient

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Timeouts of the transport. There is no overall client timeout: every
// call is bounded by its context.
const (
	DialTimeout           = 10 * time.Second
	TLSHandshakeTimeout   = 10 * time.Second
	ResponseHeaderTimeout = 30 * time.Second
)

// New returns an HTTP client that trusts the system roots plus every
// CERTIFICATE block in extraRootsPEM. A nil or empty extraRootsPEM means
// the system roots only. PEM that holds no certificate, or a certificate
// that does not parse, is an error. Its transport retries transient
// failures by DefaultRetryPolicy (NewRetryTransport), beneath the guard
// of guard.go (HTTPS only); BaseTransport returns the *http.Transport
// beneath. The client is safe for concurrent use.
func New(extraRootsPEM []byte) (*http.Client, error) {
	return newClient(extraRootsPEM, false)
}

// NewManagedIdentity is New for the managed identity flow alone: it may
// also send plain HTTP to loopback and link-local addresses
// (127.0.0.0/8, ::1, localhost, 169.254.0.0/16, fe80::/10), where the
// managed identity endpoints (IMDS, App Service, Azure Arc) answer
// plain HTTP by design and no app secret is sent. Every flow that sends
// a credential uses New, which can never send plain HTTP.
func NewManagedIdentity(extraRootsPEM []byte) (*http.Client, error) {
	return newClient(extraRootsPEM, true)
}

func newClient(extraRootsPEM []byte, localPlainHTTP bool) (*http.Client, error) {
	pool, err := rootPool(extraRootsPEM)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}
	proxy := http.ProxyFromEnvironment
	if localPlainHTTP {
		// Identity endpoints are link-local or loopback: a proxy
		// (HTTPS_PROXY) could not reach them and must not see the
		// identity header.
		proxy = nil
	}
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   4,
		// A custom TLSClientConfig turns HTTP/2 off unless asked for.
		ForceAttemptHTTP2: true,
	}
	// Discovery (discovery.go) sits beneath the guard, so a cached answer
	// is only given to a request the guard lets through.
	disc := &discoveryTransport{next: NewRetryTransport(tr, nil), d: SharedDiscovery}
	return &http.Client{Transport: &guardTransport{next: disc, localPlainHTTP: localPlainHTTP, maxBody: MaxResponseBody}}, nil
}

// Wrap returns a copy of c whose transport is wrap applied to c's (or
// http.DefaultTransport): a flow puts a layer of its own (RFC 8628
// polling, the SAML grant) over the shared client, keeping its other
// settings.
func Wrap(c *http.Client, wrap func(http.RoundTripper) http.RoundTripper) *http.Client {
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	w := *c
	w.Transport = wrap(base)
	return &w
}

// BaseTransport returns the *http.Transport beneath the guard and the
// retries of a client from New, or of one whose Transport is an
// *http.Transport; ok is false otherwise. Tests use it to redirect dials.
func BaseTransport(c *http.Client) (tr *http.Transport, ok bool) {
	rt := c.Transport
	for {
		switch t := rt.(type) {
		case *http.Transport:
			return t, true
		case *guardTransport:
			rt = t.next
		case *retryTransport:
			rt = t.base
		case *discoveryTransport:
			rt = t.next
		default:
			return nil, false
		}
	}
}

// rootPool returns nil (the system roots) when there is nothing extra, so
// that the platform verifier is used where there is one.
func rootPool(extra []byte) (*x509.CertPool, error) {
	if len(extra) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	n := 0
	rest := extra
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("httpclient: CA certificate %d does not parse: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("httpclient: no PEM CERTIFICATE block in the CA certificates (ca_file)")
	}
	return pool, nil
}
