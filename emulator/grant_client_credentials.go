package emulator

import "strings"

func init() { registerGrant("client_credentials", (*Server).grantClientCredentials) }

// oidcScopes are the scopes MSAL always adds; Entra ID ignores them where
// they do not apply, e.g. for client credentials.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// grantClientCredentials serves grant_type=client_credentials: an
// app-only token for exactly one resource named by "<resource>/.default",
// which must exist (AADSTS500011), with the app roles assigned to the app
// on it as "roles" (none: no "roles" claim, as in Entra ID). Only a
// confidential app in a specific tenant may use it.
func (s *Server) grantClientCredentials(q *tokenRequest) (*tokenResponse, *aadError) {
	if q.tenant == nil {
		return nil, errNoTenantInfo()
	}
	c, aerr := s.authenticateClient(q)
	if aerr != nil {
		return nil, aerr
	}
	if c.method == authNone {
		return nil, errNoClientCredential()
	}
	resource, aerr := defaultScopeResource(q.form.Get("scope"))
	if aerr != nil {
		return nil, aerr
	}
	res, aerr := s.resolveResource(q.tenant, resource)
	if aerr != nil {
		return nil, aerr
	}
	at, err := s.mintAccessToken(accessToken{
		host: q.host, tenantID: q.tenant.id, res: res,
		clientID: c.app.ClientID, azpacr: c.azpacr(), appOID: c.app.objectID,
		roles: appRoles(c.app, res),
	})
	if err != nil {
		return nil, errServer(err)
	}
	lifetime := int64(s.opts.TokenLifetime.Seconds())
	return &tokenResponse{TokenType: "Bearer", ExpiresIn: lifetime, ExtExpiresIn: lifetime, AccessToken: at}, nil
}

// defaultScopeResource returns the resource of a client credentials scope
// parameter: after dropping OIDC scopes, exactly one "<resource>/.default"
// must remain.
func defaultScopeResource(scope string) (string, *aadError) {
	var rest []string
	for _, sc := range strings.Fields(scope) {
		if !oidcScopes[strings.ToLower(sc)] {
			rest = append(rest, sc)
		}
	}
	const why = "Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
	if len(rest) != 1 {
		return "", errInvalidScope(strings.Join(rest, " "), why)
	}
	resource, ok := strings.CutSuffix(rest[0], "/.default")
	if !ok || resource == "" {
		return "", errInvalidScope(rest[0], why)
	}
	return resource, nil
}
