package config

import (
	"net/url"
	"strings"
)

// DefaultAuthorityHost is the Entra ID host used when AZURE_TENANT_ID
// builds an authority and AZURE_AUTHORITY_HOST is unset.
const DefaultAuthorityHost = "https://login.microsoftonline.com"

// rewriteAuthority applies AZURE_AUTHORITY_HOST (host) and AZURE_TENANT_ID
// (tenant) to an authority; either may be empty. It keeps the rest of the
// path. An authority that does not parse is replaced by the default host.
// The result is not checked: the caller validates it with authority.Parse.
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
