// Package authority is the one parser of Entra ID authority URLs
// (https://<host>/<tenant>[/...]) for the host, its config and the flows.
// It imports only the standard library, so a plugin can use it without
// linking the host.
package authority

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Tenants that name no single tenant: "common" (work and personal
// accounts), "organizations" (any work tenant), "consumers" (personal
// accounts).
const (
	Common        = "common"
	Organizations = "organizations"
	Consumers     = "consumers"
)

// Authority is a parsed authority URL.
type Authority struct {
	// Host is the URL's host, with a port if any.
	Host string
	// Tenant is the first path segment, unescaped: a tenant id, a
	// domain, or one of Common, Organizations, Consumers, as written.
	Tenant string
}

// Parse splits an authority URL such as
// https://login.microsoftonline.com/contoso.onmicrosoft.com into its host
// and tenant. It fails unless the authority is an https URL with a host,
// no user, query or fragment, and a tenant segment of letters, digits,
// '-' and '.'. Errors never echo a password.
func Parse(raw string) (Authority, error) {
	const want = "use an https URL whose path starts with the tenant, like https://login.microsoftonline.com/<tenant id or domain>"
	u, err := url.Parse(raw)
	if raw == "" {
		return Authority{}, errors.New("authority is empty: " + want)
	}
	if err != nil {
		return Authority{}, fmt.Errorf("authority is not a URL: %s", want)
	}
	shown := raw
	if u.User != nil {
		shown = u.Redacted() // never echo a password
	}
	switch {
	case u.Scheme != "https":
		return Authority{}, fmt.Errorf("authority %q is not an https URL: %s", shown, want)
	case u.Host == "" || u.Opaque != "":
		return Authority{}, fmt.Errorf("authority %q has no host: %s", shown, want)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return Authority{}, fmt.Errorf("authority %q has a user, query or fragment: %s", shown, want)
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	tenant, err := url.PathUnescape(seg)
	if err != nil || tenant == "" {
		return Authority{}, fmt.Errorf("authority %q has no tenant: %s", shown, want)
	}
	if !ValidTenant(tenant) {
		return Authority{}, fmt.Errorf("authority %q: tenant %q may only hold letters, digits, '-' and '.': %s", shown, tenant, want)
	}
	return Authority{Host: u.Host, Tenant: tenant}, nil
}

// Tenant returns the tenant of raw, or "" if raw does not parse: for
// callers that already validated the authority (a flow's Configure gets
// the one the host checked).
func Tenant(raw string) string {
	a, _ := Parse(raw)
	return a.Tenant
}

// Host returns the host of raw (with a port if any), or "" if raw does
// not parse.
func Host(raw string) string {
	a, _ := Parse(raw)
	return a.Host
}

// ValidTenant reports whether s can be a tenant id or domain (the same
// rule azidentity applies to tenant ids).
func ValidTenant(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// MultiTenants returns the tenants that name no single tenant: Common,
// Consumers and Organizations. The app-identity grants (client
// credentials, on-behalf-of) act in one tenant, so they refuse these.
func MultiTenants() []string { return []string{Common, Consumers, Organizations} }

// IsMultiTenant reports whether tenant (any case) names no single tenant.
func IsMultiTenant(tenant string) bool {
	return slices.Contains(MultiTenants(), strings.ToLower(strings.TrimSpace(tenant)))
}
