package emulator

import (
	"net/http"
	"strings"
)

// openIDConfiguration is the tenant's OpenID Connect discovery document,
// with the fields Entra ID publishes that the emulator can honour.
type openIDConfiguration struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	CloudInstanceName                 string   `json:"cloud_instance_name"`
}

// resolveTenant maps a URL tenant segment (GUID or domain, any case) to a
// tenant. The multi-tenant aliases "common", "organizations" and
// "consumers" resolve to (nil, true).
func (s *Server) resolveTenant(seg string) (*tenantRec, bool) {
	if reservedTenants[strings.ToLower(seg)] {
		return nil, true
	}
	return s.dir.tenant(seg)
}

// handleDiscovery serves GET /{tenant}/v2.0/.well-known/openid-configuration.
// Like Entra ID, a tenant named by domain gets endpoints with its GUID, and
// an alias keeps the alias in endpoints and has the issuer
// "https://host/{tenantid}/v2.0".
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	t, ok := s.resolveTenant(seg)
	if !ok {
		s.writeError(w, r, errTenantNotFound("invalid_tenant", seg))
		return
	}
	host := s.publicHost(r)
	pathTenant, issuerTenant := strings.ToLower(seg), "{tenantid}"
	if t != nil {
		pathTenant, issuerTenant = t.id, t.id
		infoFrom(r.Context()).tenant = t.id
	}
	base := "https://" + host + "/" + pathTenant
	writeJSON(w, http.StatusOK, openIDConfiguration{
		Issuer:                            "https://" + host + "/" + issuerTenant + "/v2.0",
		AuthorizationEndpoint:             base + "/oauth2/v2.0/authorize",
		TokenEndpoint:                     base + "/oauth2/v2.0/token",
		DeviceAuthorizationEndpoint:       base + "/oauth2/v2.0/devicecode",
		JWKSURI:                           base + "/discovery/v2.0/keys",
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		ResponseModesSupported:            []string{"query", "fragment", "form_post"},
		ResponseTypesSupported:            []string{"code", "id_token", "code id_token", "id_token token"},
		ScopesSupported:                   []string{"openid", "profile", "email", "offline_access"},
		SubjectTypesSupported:             []string{"pairwise"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ClaimsSupported: []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
			"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver",
			"at_hash", "c_hash", "email"},
		CloudInstanceName: "microsoftonline.com",
	})
}
