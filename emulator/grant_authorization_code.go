package emulator

import (
	"net/http"
	"strings"
)

func init() { registerGrant("authorization_code", (*Server).grantAuthorizationCode) }

// grantAuthorizationCode redeems a code from the authorization endpoint:
// once, by the client it was issued to, with the same redirect_uri and,
// if the request carried a PKCE challenge, the matching code_verifier. A
// confidential client must also authenticate.
func (s *Server) grantAuthorizationCode(q *tokenRequest) (*tokenResponse, *aadError) {
	c, aerr := s.authenticateClient(q)
	if aerr != nil {
		return nil, aerr
	}
	code := q.form.Get("code")
	if code == "" {
		return nil, errMissingParameter("code")
	}
	now := s.now()
	s.users.mu.Lock()
	rec, ok := s.users.authCodes[secretKey(code)]
	var first bool
	if ok {
		first = !rec.redeemed
		rec.redeemed = true
	}
	s.users.mu.Unlock()
	switch {
	case !ok:
		return nil, newError(http.StatusBadRequest, "invalid_grant", 9002313,
			"Invalid request. Request is malformed or invalid: the authorization code is not one this server issued.")
	case !first:
		return nil, newError(http.StatusBadRequest, "invalid_grant", 54005,
			"OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case !now.Before(rec.expires):
		return nil, newError(http.StatusBadRequest, "invalid_grant", 70008,
			"The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	case !strings.EqualFold(rec.signIn.app.ClientID, c.app.ClientID):
		return nil, newError(http.StatusBadRequest, "invalid_grant", 70000,
			"The provided authorization code was issued to another client.")
	case q.form.Get("redirect_uri") != rec.signIn.redirectURI:
		return nil, newError(http.StatusBadRequest, "invalid_grant", 70000,
			"The redirect_uri does not match the one of the authorization request.")
	}
	if rec.signIn.challenge != "" {
		verifier := q.form.Get("code_verifier")
		if verifier == "" {
			return nil, newError(http.StatusBadRequest, "invalid_grant", 50148,
				"The code_verifier is missing; the authorization request had a code_challenge (PKCE).")
		}
		if !pkceMatches(rec.signIn, verifier) {
			return nil, newError(http.StatusBadRequest, "invalid_grant", 50148,
				"The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.")
		}
	}
	scopes := rec.signIn.scopes
	if sc := q.form.Get("scope"); sc != "" {
		if scopes, aerr = parseUserScopes(sc); aerr != nil {
			return nil, aerr
		}
	}
	infoFrom(q.r.Context()).tenant = rec.user.tenantID
	return s.issueUserTokens(q, userGrant{client: c, user: rec.user, scopes: scopes, nonce: rec.signIn.nonce, authTime: rec.authTime, interactive: true})
}
