package emulator

import (
	"net/http"
	"net/url"
	"strings"
)

// instanceDiscovery is Entra ID's instance discovery answer.
type instanceDiscovery struct {
	TenantDiscoveryEndpoint string             `json:"tenant_discovery_endpoint"`
	APIVersion              string             `json:"api-version"`
	Metadata                []instanceMetadata `json:"metadata"`
}

type instanceMetadata struct {
	PreferredNetwork string   `json:"preferred_network"`
	PreferredCache   string   `json:"preferred_cache"`
	Aliases          []string `json:"aliases"`
}

// handleInstanceDiscovery serves GET /common/discovery/instance, which MSAL
// calls (on login.microsoftonline.com) for an authority host it does not
// know, unless instance discovery is off. The authority comes in the
// authorization_endpoint parameter; its host must be one the server
// certificate covers, else the answer is AADSTS50049 like Entra ID's for a
// foreign host.
func (s *Server) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host, tenant := s.publicHost(r), "common"
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		u, err := url.Parse(ae)
		if err != nil || u.Scheme != "https" || !s.pki.knownHost(u.Host) {
			s.writeError(w, r, newError(http.StatusBadRequest, "invalid_instance", 50049, "Unknown or invalid instance."))
			return
		}
		host = u.Host
		if seg, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); seg != "" {
			tenant = url.PathEscape(seg)
		}
	}
	writeJSON(w, http.StatusOK, instanceDiscovery{
		TenantDiscoveryEndpoint: "https://" + host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		APIVersion:              "1.1",
		Metadata: []instanceMetadata{{
			PreferredNetwork: host,
			PreferredCache:   host,
			Aliases:          []string{host},
		}},
	})
}
