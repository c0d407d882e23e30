package clientauth

import (
	"net"
	"net/http"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/authority"
)

// knownCloudHosts are the Microsoft cloud login hosts for which MSAL's
// instance discovery (a call to login.microsoftonline.com) is meaningful.
// For any other host (the emulator, a private deployment) discovery is
// turned off and the authority is used as given.
var knownCloudHosts = []string{
	"login.microsoftonline.com",        // public cloud
	"login.microsoftonline.us",         // US Government
	"login.chinacloudapi.cn",           // China (21Vianet)
	"login.partner.microsoftonline.cn", // China (21Vianet)
}

// KnownCloudHosts returns the Microsoft cloud login hosts. Each call returns
// a fresh slice.
func KnownCloudHosts() []string { return append([]string(nil), knownCloudHosts...) }

// IsKnownCloudHost reports whether host (with or without a port) is a
// Microsoft cloud login host. The comparison ignores case.
func IsKnownCloudHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, k := range knownCloudHosts {
		if host == k {
			return true
		}
	}
	return false
}

// InstanceDiscovery reports whether MSAL's instance discovery should run for
// the authority raw: only for a known Microsoft cloud host.
func InstanceDiscovery(raw string) bool {
	host := authority.Host(raw)
	return host != "" && IsKnownCloudHost(host)
}

// NewClient builds the MSAL confidential client of a flow: cfg's authority
// and client id, cred (from Load), httpClient (nil means MSAL's default),
// accessor as its cache (nil means MSAL's in-memory cache), x5c when
// send_certificate_chain is true, and instance discovery only for a known
// Microsoft cloud host. It does no network I/O. The returned client is safe
// for concurrent use.
func NewClient(cfg core.FlowConfig, cred confidential.Credential, httpClient *http.Client, accessor cache.ExportReplace) (confidential.Client, error) {
	opts := []confidential.Option{
		confidential.WithInstanceDiscovery(InstanceDiscovery(cfg.Authority)),
	}
	if httpClient != nil {
		opts = append(opts, confidential.WithHTTPClient(httpClient))
	}
	if accessor != nil {
		opts = append(opts, confidential.WithCache(accessor))
	}
	if x5c, _ := SendCertificateChain(cfg); x5c {
		opts = append(opts, confidential.WithX5C())
	}
	return confidential.New(cfg.Authority, cfg.ClientID, cred, opts...)
}
