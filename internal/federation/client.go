package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credhost/credhost/core/authority"
)

// DefaultTimeout bounds each request of a Client whose Options leave
// Timeout zero. Realm discovery, MEX and WS-Trust each answer in well
// under a second on a healthy network; a flow in a chain must not hang
// on a dead federation server.
const DefaultTimeout = 15 * time.Second

// maxRealmSize bounds a user realm response (a few hundred bytes).
const maxRealmSize = 64 << 10

// Options tunes a Client; nil means the defaults.
type Options struct {
	// Timeout bounds each request; 0 means DefaultTimeout. The caller's
	// context still applies.
	Timeout time.Duration
}

// Client talks to Entra ID's user realm endpoint and to a federation
// server (AD FS) over HTTPS. It is safe for concurrent use.
type Client struct {
	http    *http.Client
	timeout time.Duration
}

// NewClient returns a Client that sends every request with hc (nil means
// http.DefaultClient). It follows no redirects: a WS-Trust request must
// reach the endpoint the metadata named, and a redirect would resend a
// password or a Kerberos token elsewhere.
func NewClient(hc *http.Client, opts *Options) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cl := &Client{http: &c, timeout: DefaultTimeout}
	if opts != nil && opts.Timeout > 0 {
		cl.timeout = opts.Timeout
	}
	return cl
}

// AccountType is a user realm's kind of account.
type AccountType string

// Account types of the user realm endpoint.
const (
	Managed   AccountType = "Managed"   // cloud-only: Entra ID checks the password
	Federated AccountType = "Federated" // a federation server (AD FS) signs the user in
	Unknown   AccountType = "Unknown"   // no such domain
)

// Realm is Entra ID's answer about a user's domain.
type Realm struct {
	AccountType           AccountType `json:"account_type"`
	DomainName            string      `json:"domain_name"`
	FederationProtocol    string      `json:"federation_protocol"`
	FederationMetadataURL string      `json:"federation_metadata_url"`
	CloudAudienceURN      string      `json:"cloud_audience_urn"`
	CloudInstanceName     string      `json:"cloud_instance_name"`
}

// AppliesTo is the relying party to name in WS-Trust requests.
func (r Realm) AppliesTo() string {
	if r.CloudAudienceURN != "" {
		return r.CloudAudienceURN
	}
	return DefaultAppliesTo
}

// HTTPError is an unexpected HTTP status from one of the endpoints. It
// names the request without its query and never holds the body.
type HTTPError struct {
	Op     string // "user realm", "MEX", "WS-Trust"
	Method string
	URL    string
	Status int
	// Negotiate is set when a 401 asked for HTTP Negotiate
	// (WWW-Authenticate: Negotiate): the Kerberos token was missing or
	// not accepted.
	Negotiate bool
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("federation: %s: HTTP %d from %s %s", e.Op, e.Status, e.Method, e.URL)
}

// UserRealm asks Entra ID at authority's host how username signs in:
// GET https://{host}/common/UserRealm/{username}?api-version=1.0. A
// Federated answer must name a WS-Trust metadata URL over HTTPS.
func (c *Client) UserRealm(ctx context.Context, authorityURL, username string) (Realm, error) {
	host := authority.Host(authorityURL)
	if host == "" {
		return Realm{}, fmt.Errorf("federation: user realm: authority %q is not an authority URL", clip(authorityURL))
	}
	if strings.TrimSpace(username) == "" {
		return Realm{}, errors.New("federation: user realm: no username")
	}
	u := url.URL{Scheme: "https", Host: host, Path: "/common/UserRealm/" + username, RawQuery: "api-version=1.0"}
	u.RawPath = "/common/UserRealm/" + url.PathEscape(username)
	body, err := c.do(ctx, "user realm", http.MethodGet, u.String(), nil, nil, maxRealmSize)
	if err != nil {
		return Realm{}, err
	}
	var r Realm
	if err := json.Unmarshal(body, &r); err != nil {
		return Realm{}, errors.New("federation: user realm: the answer is not JSON")
	}
	switch r.AccountType {
	case Managed, Unknown:
	case Federated:
		if !strings.EqualFold(r.FederationProtocol, "WSTrust") {
			return Realm{}, fmt.Errorf("federation: user realm: the domain is federated over %q, not WS-Trust", clip(r.FederationProtocol))
		}
		if !isHTTPS(r.FederationMetadataURL) {
			return Realm{}, errors.New("federation: user realm: the federation metadata URL is not an https URL")
		}
	default:
		return Realm{}, fmt.Errorf("federation: user realm: unknown account type %q", clip(string(r.AccountType)))
	}
	return r, nil
}

// MEX fetches and parses the WS-MetadataExchange document at metadataURL.
func (c *Client) MEX(ctx context.Context, metadataURL string) (Endpoints, error) {
	if !isHTTPS(metadataURL) {
		return Endpoints{}, errors.New("federation: MEX: the metadata URL is not an https URL")
	}
	body, err := c.do(ctx, "MEX", http.MethodGet, metadataURL, nil, nil, MaxDocumentSize)
	if err != nil {
		return Endpoints{}, err
	}
	return ParseMEX(body)
}

// RSTRequest is one WS-Trust Issue request.
type RSTRequest struct {
	// AppliesTo is the relying party; empty means DefaultAppliesTo.
	AppliesTo string
	// Credential, for usernamemixed, goes into the WS-Security header.
	Credential *UsernamePassword
	// Authorize, for windowstransport, sets the request's Authorization
	// header (HTTP Negotiate). It runs right before the request is sent.
	Authorize func(*http.Request) error
}

// RequestSecurityToken sends an Issue request to ep and returns the SAML
// assertion of the answer. A SOAP fault comes back as a *Fault, an HTTP
// status without one as an *HTTPError.
func (c *Client) RequestSecurityToken(ctx context.Context, ep Endpoint, req RSTRequest) (Assertion, error) {
	if !isHTTPS(ep.URL) {
		return Assertion{}, errors.New("federation: WS-Trust: the endpoint is not an https URL")
	}
	body, err := BuildRST(ep, req.AppliesTo, req.Credential, time.Now())
	if err != nil {
		return Assertion{}, err
	}
	var secrets []string
	if req.Credential != nil {
		secrets = append(secrets, req.Credential.Password)
	}
	header := http.Header{
		"Content-Type": {`application/soap+xml; charset=utf-8; action="` + ep.Version.Action() + `"`},
		"SOAPAction":   {ep.Version.Action()},
	}
	resp, err := c.do(ctx, "WS-Trust", http.MethodPost, ep.URL, header, &sendOpts{body: body, authorize: req.Authorize}, MaxDocumentSize)
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) && len(resp) > 0 {
			// A WS-Trust server reports refusals as SOAP faults, usually
			// with HTTP 500 (SOAP 1.2) or 400.
			if f, ok := ParseFault(resp); ok {
				f.scrub(secrets...)
				return Assertion{}, f
			}
		}
		return Assertion{}, err
	}
	a, err := ParseRSTR(resp)
	var f *Fault
	if errors.As(err, &f) {
		f.scrub(secrets...)
	}
	return a, err
}

type sendOpts struct {
	body      []byte
	authorize func(*http.Request) error
}

// do sends one request and reads at most limit bytes of the answer. A
// non-2xx status is an *HTTPError; the (bounded) body is returned with it
// so that a caller can look for a SOAP fault.
func (c *Client) do(ctx context.Context, op, method, rawURL string, header http.Header, send *sendOpts, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if send != nil && send.body != nil {
		body = bytes.NewReader(send.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, fmt.Errorf("federation: %s: bad URL", op)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json, application/soap+xml, text/xml")
	}
	if send != nil && send.authorize != nil {
		if err := send.authorize(req); err != nil {
			return nil, err
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("federation: %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("federation: %s: reading the answer: %w", op, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("federation: %s: the answer is larger than %d bytes", op, limit)
	}
	if resp.StatusCode/100 != 2 {
		u := *req.URL
		u.RawQuery, u.User, u.Fragment = "", nil, ""
		he := &HTTPError{Op: op, Method: method, URL: u.String(), Status: resp.StatusCode}
		if resp.StatusCode == http.StatusUnauthorized {
			for _, v := range resp.Header.Values("WWW-Authenticate") {
				if strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "negotiate") {
					he.Negotiate = true
				}
			}
		}
		return data, he
	}
	return data, nil
}
