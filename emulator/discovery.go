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

// handleDiscoveryV1 serves GET /{tenant}/.well-known/openid-configuration,
// the v1.0 document (asked by `az login --tenant <domain>` to find the
// tenant id): issuer https://sts.windows.net/<tid>/ and the v1 endpoint
// names. The emulator serves the v2.0 endpoints only; the v1 document
// names the v1 paths as Entra ID's does.
func (s *Server) handleDiscoveryV1(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	t, ok := s.resolveTenant(seg)
	if !ok {
		s.writeError(w, r, errTenantNotFound("invalid_tenant", seg))
		return
	}
	pathTenant, issuer := strings.ToLower(seg), v1IssuerPrefix+"{tenantid}/"
	if t != nil {
		pathTenant, issuer = t.id, v1IssuerURL(t.id)
		infoFrom(r.Context()).tenant = t.id
	}
	base := "https://" + s.publicHost(r) + "/" + pathTenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                base + "/oauth2/authorize",
		"token_endpoint":                        base + "/oauth2/token",
		"device_authorization_endpoint":         base + "/oauth2/devicecode",
		"jwks_uri":                              base + "/discovery/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token", "token"},
		"scopes_supported":                      []string{"openid"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"cloud_instance_name":                   "microsoftonline.com",
		"tenant_region_scope":                   "WW",
	})
}

// handleADFSDiscovery serves GET /adfs/.well-known/openid-configuration,
// the discovery document of the emulator's AD FS lookalike, as MSAL
// fetches it for an AD FS authority. Its keys are the emulator's.
func (s *Server) handleADFSDiscovery(w http.ResponseWriter, r *http.Request) {
	base := "https://" + s.publicHost(r) + "/adfs"
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "/oauth2/authorize/",
		"token_endpoint":                        base + "/oauth2/token/",
		"jwks_uri":                              base + "/discovery/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token", "code token", "code id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "allatclaims", "offline_access"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"access_token_issuer":                   "http://" + s.publicHost(r) + "/adfs/services/trust",
	})
}
