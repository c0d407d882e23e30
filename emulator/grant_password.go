package emulator

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

func init() { registerGrant("password", (*Server).grantPassword) }

// grantPassword serves the resource owner password credentials grant
// (ROPC), which MSAL uses for managed users after the user realm said
// "Managed". A wrong password, and any password of a federated user
// (Entra ID does not hold it), is AADSTS50126; an unknown user is
// AADSTS50034; a user with MFA gets interaction_required (AADSTS50076)
// once the password is right.
func (s *Server) grantPassword(q *tokenRequest) (*tokenResponse, *aadError) {
	c, aerr := s.authenticateClient(q)
	if aerr != nil {
		return nil, aerr
	}
	username, password := strings.TrimSpace(q.form.Get("username")), q.form.Get("password")
	switch {
	case username == "":
		return nil, errMissingParameter("username")
	case password == "":
		return nil, errMissingParameter("password")
	}
	scopes, aerr := parseUserScopes(q.form.Get("scope"))
	if aerr != nil {
		return nil, aerr
	}
	u, ok := s.findUser(q.tenant, username)
	if !ok {
		tenant := q.tenantSeg
		if q.tenant != nil {
			tenant = q.tenant.id
		}
		return nil, newError(http.StatusBadRequest, "invalid_grant", 50034,
			"The user account %s does not exist in the %s directory. To sign into this application, the account must be added to the directory.",
			username, tenant)
	}
	infoFrom(q.r.Context()).tenant = u.tenantID
	if u.Federated || subtle.ConstantTimeCompare([]byte(password), []byte(u.Password)) != 1 {
		return nil, newError(http.StatusBadRequest, "invalid_grant", 50126,
			"Error validating credentials due to invalid username or password.")
	}
	if u.MFA {
		return nil, errMFARequired(scopes.resource)
	}
	return s.issueUserTokens(q, userGrant{client: c, user: u, scopes: scopes, authTime: s.now()})
}
