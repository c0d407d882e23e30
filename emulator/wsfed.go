package emulator

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Federated sign-in: the emulator plays both Entra ID and the AD FS farm a
// federated domain points at. Entra ID's side is the user realm endpoint
// (wsfed_realm.go) and the SAML bearer grants (grant_saml_bearer.go); AD
// FS's side is the MEX document (wsfed_mex.go) and the WS-Trust endpoints
// usernamemixed and windowstransport (wsfed_trust.go), which issue SAML
// assertions (wsfed_saml.go).
//
// The emulator does not sign its assertions (no XML-DSig): it remembers
// every assertion it issued by hash, like its refresh tokens, and the
// grants accept only those, unmodified, once, before they expire. That is
// as strict as a signature check and needs no canonicalization.

// Federation constants, as AD FS and Entra ID use them.
const (
	// cloudAudienceURN is the relying party Entra ID's WS-Trust requests
	// name, and the audience of the assertions.
	cloudAudienceURN = "urn:federation:MicrosoftOnline"
	// assertionLifetime is how long an issued assertion can be redeemed
	// (AD FS: 1 hour; the grant is made within seconds).
	assertionLifetime = 10 * time.Minute
	// mexPath is where AD FS publishes its metadata exchange document.
	mexPath = "/adfs/services/trust/mex"
)

// wsfed is the emulator's federation state. It is safe for concurrent use.
type wsfed struct {
	host   string // Options.FederationHost, lower case; "" means the request's host
	spn    string // windowstransport's service principal, "HTTP/host"
	keytab *keytab.Keytab

	mu         sync.Mutex
	assertions map[string]*assertionRec // by secretKey(assertion XML)
}

// assertionRec is what the emulator remembers of an assertion it issued.
type assertionRec struct {
	user     *userRec
	version  int // 1 (SAML 1.1) or 2 (SAML 2.0)
	authTime time.Time
	expires  time.Time
	redeemed bool
}

// newWSFed reads the federation options: it adds FederationHost to the
// certificate's names and loads the Kerberos keytab. It does no network
// I/O.
func newWSFed(opts *Options) (*wsfed, error) {
	f := &wsfed{host: strings.ToLower(strings.TrimSpace(opts.FederationHost)), assertions: map[string]*assertionRec{}}
	if f.host != "" {
		if strings.ContainsAny(f.host, ":/") {
			return nil, fmt.Errorf("federation host %q must be a bare host name", opts.FederationHost)
		}
		opts.Hostnames = append(append([]string(nil), opts.Hostnames...), f.host)
	}
	f.spn = strings.TrimSpace(opts.KerberosSPN)
	if f.spn == "" && f.host != "" {
		f.spn = "HTTP/" + f.host
	}
	if opts.KerberosKeytab != "" {
		if f.spn == "" {
			return nil, errors.New("kerberos keytab: set FederationHost or KerberosSPN to name the service principal")
		}
		kt, err := keytab.Load(opts.KerberosKeytab)
		if err != nil {
			return nil, fmt.Errorf("kerberos keytab: %w", err)
		}
		f.keytab = kt
	}
	return f, nil
}

// federationHost is the host:port of the AD FS lookalike as seen by r's
// client: FederationHost on the emulator's port, else r's own host.
func (s *Server) federationHost(hostport string) string {
	if s.fed.host == "" {
		return hostport
	}
	if _, port, err := net.SplitHostPort(hostport); err == nil {
		return net.JoinHostPort(s.fed.host, port)
	}
	return s.fed.host
}

// kerberosPrincipal is the principal that signs in as u at
// windowstransport.
func kerberosPrincipal(u *userRec) string {
	if u.KerberosPrincipal != "" {
		return u.KerberosPrincipal
	}
	name, domain, ok := strings.Cut(u.Username, "@")
	if !ok {
		return u.Username
	}
	return name + "@" + strings.ToUpper(domain)
}

// federatedUserByPrincipal finds the federated user a Kerberos principal
// signs in as.
func (d *directory) federatedUserByPrincipal(principal string) (*userRec, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, t := range d.tenants {
		for _, u := range t.users {
			if u.Federated && strings.EqualFold(kerberosPrincipal(u), principal) {
				return u, true
			}
		}
	}
	return nil, false
}

// domainKind says how Entra ID signs in users of domain: "Federated" if a
// federated user has it, "Managed" if another user or a tenant has it,
// else "Unknown".
func (d *directory) domainKind(domain string) string {
	domain = strings.ToLower(domain)
	d.mu.RLock()
	defer d.mu.RUnlock()
	kind := "Unknown"
	for _, t := range d.tenants {
		if strings.EqualFold(t.domain, domain) {
			kind = "Managed"
		}
		for _, u := range t.users {
			if _, ud, ok := strings.Cut(u.Username, "@"); ok && strings.EqualFold(ud, domain) {
				if u.Federated {
					return "Federated"
				}
				kind = "Managed"
			}
		}
	}
	return kind
}

// rememberAssertion records an issued assertion.
func (f *wsfed) rememberAssertion(xml string, rec *assertionRec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, r := range f.assertions {
		if r.expires.Before(rec.authTime.Add(-time.Hour)) {
			delete(f.assertions, k)
		}
	}
	f.assertions[secretKey(xml)] = rec
}

// redeemAssertion returns the record of an issued assertion and, if it
// is of the grant's SAML version, marks it redeemed; first reports
// whether this was its first redemption.
func (f *wsfed) redeemAssertion(xml string, version int) (rec assertionRec, first, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.assertions[secretKey(xml)]
	if !ok {
		return assertionRec{}, false, false
	}
	first = !r.redeemed
	if r.version == version {
		r.redeemed = true
	}
	return *r, first, true
}
