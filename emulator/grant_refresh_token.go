package emulator

import (
	"net/http"
	"strings"
)

func init() { registerGrant("refresh_token", (*Server).grantRefreshToken) }

// grantRefreshToken redeems a refresh token for new tokens, for any
// resource (Entra ID refresh tokens are multi-resource). The answer
// carries a new refresh token (rotation); like Entra ID's, the old one
// stays valid until it expires. A user who requires multi-factor
// authentication gets interaction_required (AADSTS50076): no emulator
// sign-in satisfies MFA.
func (s *Server) grantRefreshToken(q *tokenRequest) (*tokenResponse, *aadError) {
	c, aerr := s.authenticateClient(q)
	if aerr != nil {
		return nil, aerr
	}
	rt := q.form.Get("refresh_token")
	if rt == "" {
		return nil, errMissingParameter("refresh_token")
	}
	scopes, aerr := parseUserScopes(q.form.Get("scope"))
	if aerr != nil {
		return nil, aerr
	}
	now := s.now()
	s.users.mu.Lock()
	rec, ok := s.users.refreshTokens[secretKey(rt)]
	var g userGrant
	if ok {
		g = userGrant{client: c, user: rec.user, scopes: scopes, authTime: rec.authTime}
	}
	s.users.mu.Unlock()
	switch {
	case !ok:
		return nil, newError(http.StatusBadRequest, "invalid_grant", 9002313,
			"Invalid request. Request is malformed or invalid: the refresh token is not one this server issued.")
	case !now.Before(rec.expires):
		return nil, newError(http.StatusBadRequest, "invalid_grant", 700082,
			"The refresh token has expired due to inactivity. The token was issued on %s and was inactive for 90.00:00:00.",
			rec.expires.Add(-refreshTokenLifetime).UTC().Format("2006-01-02T15:04:05Z"))
	case !strings.EqualFold(rec.clientID, c.app.ClientID):
		return nil, newError(http.StatusBadRequest, "invalid_grant", 70000,
			"The refresh token was issued to another client.")
	case rec.user.MFA:
		return nil, errMFARequired(scopes.resource)
	}
	infoFrom(q.r.Context()).tenant = rec.user.tenantID
	// The refresh itself always asks for a new refresh token.
	g.scopes.offline = true
	return s.issueUserTokens(q, g)
}
