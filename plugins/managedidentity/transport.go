package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/credhost/credhost/internal/httpclient"
)

// newHTTPClient returns the client MSAL sends identity requests with: the
// system roots plus caPEM (the profile's ca_file: the emulator's CA in
// tests), no proxy, and, if imdsTarget is set, IMDS requests sent there
// instead of the link-local address. MSAL v1.10.1 has no setting for the
// IMDS endpoint (it always asks http://169.254.169.254), so its HTTP
// client is the one place to change it.
//
// Every source but Service Fabric goes through httpclient's managed
// identity client: https everywhere except loopback and link-local
// endpoints, capped answers, no credential-carrying redirects. Service
// Fabric needs MSAL to see a bare *http.Transport (it pins the endpoint's
// certificate on a clone), so it gets one; its endpoint is https.
func newHTTPClient(caPEM []byte, source managedidentity.Source, imdsTarget *url.URL) (*http.Client, error) {
	if source == managedidentity.ServiceFabric {
		return serviceFabricClient(caPEM)
	}
	c, err := httpclient.NewManagedIdentity(caPEM)
	if err != nil || imdsTarget == nil {
		return c, err
	}
	return httpclient.Wrap(c, func(next http.RoundTripper) http.RoundTripper {
		return imdsRedirect{target: imdsTarget, next: next}
	}), nil
}

func serviceFabricClient(caPEM []byte) (*http.Client, error) {
	base, err := httpclient.New(caPEM)
	if err != nil {
		return nil, err
	}
	var roots *tls.Config
	if tr, ok := httpclient.BaseTransport(base); ok {
		roots = tr.TLSClientConfig.Clone()
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: httpclient.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     roots,
		TLSHandshakeTimeout: httpclient.TLSHandshakeTimeout,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 4,
	}}, nil
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
