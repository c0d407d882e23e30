package emulator

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// directory is the emulator's thread-safe view of the Config. Records are
// immutable once published; AddApp publishes new ones under the lock.
type directory struct {
	mu      sync.RWMutex
	tenants []*tenantRec
	byKey   map[string]*tenantRec // lower-case id and domain
}

// tenantRec is one tenant. Its apps map is guarded by directory.mu.
type tenantRec struct {
	id     string
	domain string
	apps   map[string]*appRec // lower-case client id
	// appList is apps in registration order, for lookups by identifier
	// URI.
	appList []*appRec
	users   map[string]*userRec

	autoRegister bool
	autoConsent  bool
}

// appRec is an App with what the emulator derives from it.
type appRec struct {
	App
	tenantID string
	objectID string // service principal object id, stable per tenant and app
	certs    []*registeredCert
}

// registeredCert is a certificate that may sign client assertions.
type registeredCert struct {
	cert   *x509.Certificate
	sha1   []byte
	sha256 []byte
}

// userRec is a User with its object id resolved.
type userRec struct {
	User
	tenantID string
}

func newDirectory(cfg Config) (*directory, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &directory{byKey: map[string]*tenantRec{}}
	for _, t := range cfg.Tenants {
		rec := &tenantRec{id: t.ID, domain: t.Domain, apps: map[string]*appRec{}, users: map[string]*userRec{},
			autoRegister: t.AutoRegisterResources, autoConsent: t.AutoConsent}
		for _, a := range t.Apps {
			ar, err := newAppRec(t.ID, a)
			if err != nil {
				return nil, fmt.Errorf("tenant %s: %w", t.ID, err)
			}
			rec.apps[strings.ToLower(a.ClientID)] = ar
			rec.appList = append(rec.appList, ar)
		}
		for _, u := range t.Users {
			ur := &userRec{User: u, tenantID: t.ID}
			// Copied so that the caller's later edits cannot reach us.
			ur.ConditionalAccess = append([]string(nil), u.ConditionalAccess...)
			if ur.ObjectID == "" {
				ur.ObjectID = stableGUID("user", t.ID, strings.ToLower(u.Username))
			}
			rec.users[strings.ToLower(u.Username)] = ur
		}
		d.tenants = append(d.tenants, rec)
		d.byKey[strings.ToLower(t.ID)] = rec
		if t.Domain != "" {
			d.byKey[strings.ToLower(t.Domain)] = rec
		}
	}
	return d, nil
}

func newAppRec(tenantID string, a App) (*appRec, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	// Copy the slices so the caller's later edits cannot reach us.
	a.Secrets = append([]string(nil), a.Secrets...)
	a.Certificates = append([]string(nil), a.Certificates...)
	a.FederatedCredentials = append([]FederatedCredential(nil), a.FederatedCredentials...)
	a.RedirectURIs = append([]string(nil), a.RedirectURIs...)
	a.IdentifierURIs = append([]string(nil), a.IdentifierURIs...)
	a.Scopes = append([]string(nil), a.Scopes...)
	a.AppRoles = append([]string(nil), a.AppRoles...)
	perms := make([]Permission, len(a.Permissions))
	for i, p := range a.Permissions {
		perms[i] = Permission{Resource: p.Resource, Scopes: append([]string(nil), p.Scopes...), Roles: append([]string(nil), p.Roles...)}
	}
	a.Permissions = perms
	ar := &appRec{App: a, tenantID: tenantID, objectID: stableGUID("app", tenantID, strings.ToLower(a.ClientID))}
	for i, p := range a.Certificates {
		certs, err := parseCertificates(p)
		if err != nil {
			return nil, fmt.Errorf("app %s: certificates[%d]: %w", a.ClientID, i, err)
		}
		for _, c := range certs {
			s1 := sha1.Sum(c.Raw)
			s256 := sha256.Sum256(c.Raw)
			ar.certs = append(ar.certs, &registeredCert{cert: c, sha1: s1[:], sha256: s256[:]})
		}
	}
	return ar, nil
}

// parseCertificates returns every CERTIFICATE block in p.
func parseCertificates(p string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(p)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return out, nil
}

// tenant finds a tenant by id or domain, case-insensitively.
func (d *directory) tenant(key string) (*tenantRec, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	t, ok := d.byKey[strings.ToLower(key)]
	return t, ok
}

// app finds an app in t.
func (d *directory) app(t *tenantRec, clientID string) (*appRec, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a, ok := t.apps[strings.ToLower(clientID)]
	return a, ok
}

// appAnyTenant finds an app by client id in any tenant, for requests to
// a multi-tenant alias. The first tenant in config order wins.
func (d *directory) appAnyTenant(clientID string) (*appRec, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, t := range d.tenants {
		if a, ok := t.apps[strings.ToLower(clientID)]; ok {
			return a, true
		}
	}
	return nil, false
}

// user finds a user in t by username.
func (d *directory) user(t *tenantRec, username string) (*userRec, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	u, ok := t.users[strings.ToLower(username)]
	return u, ok
}

// addApp registers a in the tenant named by key.
func (d *directory) addApp(key string, a App) error {
	t, ok := d.tenant(key)
	if !ok {
		return fmt.Errorf("tenant %q not found", key)
	}
	ar, err := newAppRec(t.id, a)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	k := strings.ToLower(a.ClientID)
	if _, dup := t.apps[k]; dup {
		return fmt.Errorf("app %s already exists in tenant %s", a.ClientID, t.id)
	}
	t.apps[k] = ar
	t.appList = append(t.appList, ar)
	return nil
}

// certByThumbprint finds the registered certificate with the given SHA-1 or
// SHA-256 thumbprint.
func (a *appRec) certByThumbprint(tp []byte) (*registeredCert, bool) {
	for _, c := range a.certs {
		if (len(tp) == len(c.sha256) && string(tp) == string(c.sha256)) ||
			(len(tp) == len(c.sha1) && string(tp) == string(c.sha1)) {
			return c, true
		}
	}
	return nil, false
}

// stableGUID derives a GUID-shaped id from parts, the same on every run.
func stableGUID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h[6] = h[6]&0x0f | 0x50 // version 5 shape
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Thumbprint formats a certificate thumbprint (a SHA-1 or SHA-256 digest)
// as Entra ID and the Azure portal print it: upper-case hex.
func Thumbprint(digest []byte) string { return strings.ToUpper(hex.EncodeToString(digest)) }
