package emulator

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Managed identities: the emulator plays the identity endpoints of the
// Azure host a workload runs on, as MSAL Go's apps/managedidentity calls
// them.
//
//	GET /metadata/identity/oauth2/token  ("imds"): the VM's Instance Metadata
//	    Service, header "Metadata: true", api-version 2018-02-01
//	GET /msi/token                       ("appservice"): App Service and
//	    Functions (IDENTITY_ENDPOINT), header X-IDENTITY-HEADER, api-version
//	    2019-08-01
//
// Both take resource=<resource> and optionally one user-assigned selector
// (client_id, object_id, and msi_res_id for IMDS or mi_res_id for App
// Service) and answer with an app-only access token of the emulator's
// signing key, in the identity's tenant: the first tenant of the Config.
//
// The host has one system-assigned identity, SystemAssignedClientID. Every
// app of the first tenant can also be used as a user-assigned identity: its
// client id, its service principal object id (the "oid" of its tokens) or
// UserAssignedResourceID(app.Name) select it.
//
// Real IMDS is plain HTTP on 169.254.169.254; the emulator serves the same
// paths over its loopback HTTPS. MSAL always asks for the link-local
// address, so a client points it here through its HTTP client (a transport
// that rewrites the request's scheme and host), not through configuration.

// Well-known values of the managed identity endpoints.
const (
	// SystemAssignedClientID is the client id of the host's
	// system-assigned managed identity.
	SystemAssignedClientID = "5a5a0000-0000-4000-8000-00000000a5a1"
	// IdentityHeader is the X-IDENTITY-HEADER value the App Service
	// endpoint accepts (IDENTITY_HEADER on a real App Service).
	IdentityHeader = "emulator-identity-header"
	// IMDSPath is the path of the IMDS token endpoint.
	IMDSPath = "/metadata/identity/oauth2/token"
	// AppServicePath is the path of the App Service identity endpoint.
	AppServicePath = "/msi/token"
	// ManagedIdentitySubscription and ManagedIdentityResourceGroup place
	// the emulator's identities in Azure Resource Manager ids.
	ManagedIdentitySubscription  = "5a5a0000-0000-4000-8000-0000000005b5"
	ManagedIdentityResourceGroup = "credhost"
)

// API versions the endpoints accept, as MSAL sends them.
const (
	imdsAPIVersion       = "2018-02-01"
	appServiceAPIVersion = "2019-08-01"
)

// SystemAssignedResourceID is the ARM id of the host (a virtual machine)
// whose system-assigned identity the endpoints serve; its tokens carry it
// in "xms_mirid".
const SystemAssignedResourceID = "/subscriptions/" + ManagedIdentitySubscription + "/resourcegroups/" + ManagedIdentityResourceGroup +
	"/providers/Microsoft.Compute/virtualMachines/emulator"

// UserAssignedResourceID is the ARM id of the user-assigned identity that
// is the app named name in the first tenant.
func UserAssignedResourceID(name string) string {
	return "/subscriptions/" + ManagedIdentitySubscription + "/resourcegroups/" + ManagedIdentityResourceGroup +
		"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
}

// IMDSEndpoint returns the URL of the emulator's IMDS token endpoint, or ""
// before Start.
func (s *Server) IMDSEndpoint() string { return s.urlFor(IMDSPath) }

// IdentityEndpoint returns the URL of the emulator's App Service identity
// endpoint (what IDENTITY_ENDPOINT holds on App Service), or "" before
// Start.
func (s *Server) IdentityEndpoint() string { return s.urlFor(AppServicePath) }

func (s *Server) urlFor(path string) string {
	if u := s.URL(); u != "" {
		return u + path
	}
	return ""
}

// managedIdentity is the identity a request selected.
type managedIdentity struct {
	tenantID   string
	clientID   string
	objectID   string
	resourceID string
}

// miError is a refusal of an identity endpoint. IMDS and App Service shape
// errors differently; each handler writes its own.
type miError struct {
	status int
	desc   string
}

// selectIdentity finds the identity named by at most one selector: none
// is the system-assigned identity.
func (s *Server) selectIdentity(clientID, objectID, resourceID string) (managedIdentity, *miError) {
	n := 0
	for _, v := range []string{clientID, objectID, resourceID} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return managedIdentity{}, &miError{http.StatusBadRequest, "Only one of client_id, object_id and the resource id may name the identity"}
	}
	s.dir.mu.RLock()
	defer s.dir.mu.RUnlock()
	if len(s.dir.tenants) == 0 {
		return managedIdentity{}, &miError{http.StatusBadRequest, "Identity not found"}
	}
	t := s.dir.tenants[0]
	if n == 0 {
		return managedIdentity{tenantID: t.id, clientID: SystemAssignedClientID,
			objectID: stableGUID("app", t.id, strings.ToLower(SystemAssignedClientID)), resourceID: SystemAssignedResourceID}, nil
	}
	for _, a := range t.apps {
		rid := UserAssignedResourceID(a.Name)
		if strings.EqualFold(a.ClientID, clientID) || strings.EqualFold(a.objectID, objectID) || (resourceID != "" && strings.EqualFold(rid, resourceID)) {
			return managedIdentity{tenantID: t.id, clientID: a.ClientID, objectID: a.objectID, resourceID: rid}, nil
		}
	}
	return managedIdentity{}, &miError{http.StatusBadRequest, "Identity not found"}
}

// issueManagedIdentityToken signs an app-only access token for id and
// resource; it returns the token and its expiry in Unix seconds.
func (s *Server) issueManagedIdentityToken(r *http.Request, id managedIdentity, resource string) (string, int64, *aadError) {
	t, _ := s.dir.tenant(id.tenantID)
	res, aerr := s.resolveResource(t, resource)
	if aerr != nil {
		return "", 0, aerr
	}
	client := &appRec{App: App{ClientID: id.clientID}, objectID: id.objectID}
	if a, ok := s.dir.app(t, id.clientID); ok {
		client = a
	}
	at, err := s.mintAccessToken(accessToken{
		host: s.publicHost(r), tenantID: id.tenantID, res: res,
		// Managed identities authenticate with a certificate the
		// platform holds.
		clientID: id.clientID, azpacr: "2", appOID: id.objectID,
		roles: appRoles(client, res),
		extra: map[string]any{"xms_mirid": id.resourceID},
	})
	if err != nil {
		return "", 0, errServer(err)
	}
	return at, s.now().Add(s.opts.TokenLifetime).Unix(), nil
}

// miResource returns the resource parameter; MSAL sends the bare resource,
// but a "/.default" scope is accepted as the same resource.
func miResource(q url.Values) string {
	return strings.TrimSuffix(strings.TrimSpace(q.Get("resource")), "/.default")
}

// imdsTokenResponse is the IMDS success body: every value is a string.
type imdsTokenResponse struct {
	AccessToken  string `json:"access_token"`
	ClientID     string `json:"client_id"`
	ExpiresIn    string `json:"expires_in"`
	ExpiresOn    string `json:"expires_on"`
	ExtExpiresIn string `json:"ext_expires_in"`
	NotBefore    string `json:"not_before"`
	Resource     string `json:"resource"`
	TokenType    string `json:"token_type"`
}

// handleIMDS serves the IMDS token endpoint. Errors are IMDS's
// {"error", "error_description"}; a missing Metadata header, which guards
// IMDS against server-side request forgery, is refused like IMDS does.
func (s *Server) handleIMDS(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		fail(http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v == "" {
		fail(http.StatusBadRequest, "invalid_request", "Required query variable 'api-version' is missing")
		return
	} else if v != imdsAPIVersion {
		fail(http.StatusBadRequest, "invalid_request", fmt.Sprintf("api-version %q is not supported here; use %s", v, imdsAPIVersion))
		return
	}
	resource := miResource(q)
	if resource == "" {
		fail(http.StatusBadRequest, "invalid_request", "Required audience parameter not specified")
		return
	}
	id, mierr := s.selectIdentity(q.Get("client_id"), q.Get("object_id"), q.Get("msi_res_id"))
	if mierr != nil {
		fail(mierr.status, "invalid_request", mierr.desc)
		return
	}
	info := infoFrom(r.Context())
	info.tenant, info.clientID = id.tenantID, id.clientID
	// An unknown resource is refused as Entra ID refuses it, which IMDS
	// relays.
	at, exp, aerr := s.issueManagedIdentityToken(r, id, resource)
	if aerr != nil {
		info.aadsts = aerr.code
		fail(aerr.status, aerr.oauth, aerr.Error())
		return
	}
	lifetime := strconv.FormatInt(int64(s.opts.TokenLifetime.Seconds()), 10)
	writeJSON(w, http.StatusOK, imdsTokenResponse{
		AccessToken:  at,
		ClientID:     id.clientID,
		ExpiresIn:    lifetime,
		ExpiresOn:    strconv.FormatInt(exp, 10),
		ExtExpiresIn: lifetime,
		NotBefore:    strconv.FormatInt(s.now().Unix(), 10),
		Resource:     resource,
		TokenType:    "Bearer",
	})
}

// appServiceTokenResponse is the App Service (2019-08-01) success body.
type appServiceTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"`
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
	ClientID    string `json:"client_id"`
}

// handleAppServiceIdentity serves the App Service identity endpoint.
// Errors are App Service's {"statusCode", "message", "correlationId"}.
func (s *Server) handleAppServiceIdentity(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": infoFrom(r.Context()).correlationID})
	}
	// Constant time: the header is the endpoint's only secret.
	if h := r.Header.Get("X-IDENTITY-HEADER"); subtle.ConstantTimeCompare([]byte(h), []byte(IdentityHeader)) != 1 {
		fail(http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != appServiceAPIVersion {
		fail(http.StatusBadRequest, fmt.Sprintf("api-version %q is not supported with X-IDENTITY-HEADER; use %s", v, appServiceAPIVersion))
		return
	}
	resource := miResource(q)
	if resource == "" {
		fail(http.StatusBadRequest, "The resource parameter is required.")
		return
	}
	objectID := q.Get("object_id")
	if objectID == "" {
		objectID = q.Get("principal_id") // App Service's older name for it
	}
	id, mierr := s.selectIdentity(q.Get("client_id"), objectID, q.Get("mi_res_id"))
	if mierr != nil {
		fail(mierr.status, mierr.desc)
		return
	}
	info := infoFrom(r.Context())
	info.tenant, info.clientID = id.tenantID, id.clientID
	at, exp, aerr := s.issueManagedIdentityToken(r, id, resource)
	if aerr != nil {
		info.aadsts = aerr.code
		fail(aerr.status, aerr.Error())
		return
	}
	writeJSON(w, http.StatusOK, appServiceTokenResponse{
		AccessToken: at,
		ExpiresOn:   strconv.FormatInt(exp, 10),
		Resource:    resource,
		TokenType:   "Bearer",
		ClientID:    id.clientID,
	})
}
