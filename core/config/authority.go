package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// DefaultAuthorityHost is the Entra ID host used when AZURE_TENANT_ID
// builds an authority and AZURE_AUTHORITY_HOST is unset.
const DefaultAuthorityHost = "https://login.microsoftonline.com"

// Tenant splits an authority URL such as
// https://login.microsoftonline.com/contoso.onmicrosoft.com into its host
// ("login.microsoftonline.com", with a port if any) and tenant (the first
// path segment: a tenant id, a domain, "organizations", "common"...). It
// fails unless the authority is an https URL with a tenant segment.
func Tenant(authority string) (host, tenant string, err error) {
	const want = "use an https URL whose path starts with the tenant, like https://login.microsoftonline.com/<tenant id or domain>"
	u, err := url.Parse(authority)
	if authority == "" {
		return "", "", errors.New("authority is empty: " + want)
	}
	if err != nil {
		return "", "", fmt.Errorf("authority is not a URL: %s", want)
	}
	shown := authority
	if u.User != nil {
		shown = u.Redacted() // never echo a password
	}
	switch {
	case u.Scheme != "https":
		return "", "", fmt.Errorf("authority %q is not an https URL: %s", shown, want)
	case u.Host == "" || u.Opaque != "":
		return "", "", fmt.Errorf("authority %q has no host: %s", shown, want)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", "", fmt.Errorf("authority %q has a user, query or fragment: %s", shown, want)
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	tenant, err = url.PathUnescape(seg)
	if err != nil || tenant == "" {
		return "", "", fmt.Errorf("authority %q has no tenant: %s", shown, want)
	}
	if !validTenant(tenant) {
		return "", "", fmt.Errorf("authority %q: tenant %q may only hold letters, digits, '-' and '.': %s", shown, tenant, want)
	}
	return u.Host, tenant, nil
}

// validTenant reports whether s can be a tenant id or domain (the same
// rule azidentity applies to tenant ids).
func validTenant(s string) bool {
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

// rewriteAuthority applies AZURE_AUTHORITY_HOST (host) and AZURE_TENANT_ID
// (tenant) to an authority; either may be empty. It keeps the rest of the
// path. An authority that does not parse is replaced by the default host.
// The result is not checked: the caller validates it with Tenant.
func rewriteAuthority(authority, host, tenant string) string {
	base, rest := DefaultAuthorityHost, ""
	if u, err := url.Parse(authority); authority != "" && err == nil && u.Scheme != "" && u.Host != "" {
		base = u.Scheme + "://" + u.Host
		rest = strings.TrimPrefix(u.EscapedPath(), "/")
	}
	if host != "" {
		base = strings.TrimRight(host, "/")
	}
	if tenant != "" {
		_, after, found := strings.Cut(rest, "/")
		rest = url.PathEscape(tenant)
		if found {
			rest += "/" + after
		}
	}
	return base + "/" + rest
}
