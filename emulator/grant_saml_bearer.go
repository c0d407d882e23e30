package emulator

import (
	"encoding/base64"
	"net/http"
	"strings"
)

func init() {
	registerGrant("urn:ietf:params:oauth:grant-type:saml1_1-bearer", (*Server).grantSAML11)
	registerGrant("urn:ietf:params:oauth:grant-type:saml2-bearer", (*Server).grantSAML2)
}

func (s *Server) grantSAML11(q *tokenRequest) (*tokenResponse, *aadError) { return s.grantSAML(q, 1) }
func (s *Server) grantSAML2(q *tokenRequest) (*tokenResponse, *aadError)  { return s.grantSAML(q, 2) }

// grantSAML redeems a SAML assertion from the emulator's federation
// server (RFC 7522; Entra ID's saml1_1-bearer for SAML 1.1) for user
// tokens. The assertion must be one the emulator issued (it remembers
// them by hash, see wsfed.go), of the grant's SAML version, unmodified,
// unexpired and not redeemed before. A user with MFA gets
// interaction_required (AADSTS50076): the federation server's sign-in
// is a single factor.
func (s *Server) grantSAML(q *tokenRequest, version int) (*tokenResponse, *aadError) {
	c, aerr := s.authenticateClient(q)
	if aerr != nil {
		return nil, aerr
	}
	raw := q.form.Get("assertion")
	if raw == "" {
		return nil, errMissingParameter("assertion")
	}
	scopes, aerr := parseUserScopes(q.form.Get("scope"))
	if aerr != nil {
		return nil, aerr
	}
	xmlBytes, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		if xmlBytes, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(raw, "=")); err != nil {
			return nil, errInvalidSAML("the assertion is not base64.")
		}
	}
	// MSAL forwards the inner XML of RequestedSecurityToken, whitespace
	// included.
	rec, first, ok := s.fed.redeemAssertion(strings.TrimSpace(string(xmlBytes)), version)
	switch {
	case !ok:
		return nil, errInvalidSAML("the assertion was not issued by a federation server this tenant trusts, or it was modified.")
	case rec.version != version:
		return nil, errInvalidSAML("the assertion's SAML version does not match the grant type.")
	case !first:
		return nil, newError(http.StatusBadRequest, "invalid_grant", 50013,
			"Assertion is invalid: the assertion was already redeemed (replay).")
	case !s.now().Before(rec.expires):
		return nil, newError(http.StatusBadRequest, "invalid_grant", 50013,
			"Assertion is invalid: the assertion expired.")
	case q.tenant != nil && q.tenant.id != rec.user.tenantID:
		return nil, newError(http.StatusBadRequest, "invalid_grant", 50034,
			"The user account does not exist in the '%s' directory.", q.tenant.id)
	}
	infoFrom(q.r.Context()).tenant = rec.user.tenantID
	if rec.user.MFA {
		return nil, errMFARequired(scopes.resource)
	}
	return s.issueUserTokens(q, userGrant{client: c, user: rec.user, scopes: scopes, authTime: rec.authTime})
}

func errInvalidSAML(why string) *aadError {
	return newError(http.StatusBadRequest, "invalid_grant", 50008, "SAML token is invalid: %s", why)
}
