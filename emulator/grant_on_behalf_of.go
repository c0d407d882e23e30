package emulator

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// JWTBearerGrant is the grant_type of on-behalf-of requests. The token
// endpoint counts them under "token:" + JWTBearerGrant.
const JWTBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

func init() { registerGrant(JWTBearerGrant, (*Server).grantOnBehalfOf) }

// grantOnBehalfOf serves the on-behalf-of grant: a confidential app (a
// web API) presents the access token its caller sent it (the assertion)
// and gets a token for the same user for another resource. Like Entra ID,
// it checks that the assertion is a user token this emulator issued
// (signature, issuer, tenant), that it is not expired (AADSTS500133) and
// that it was issued to the calling app, by client id or api://<client
// id> (AADSTS500131). A user with MFA, or under conditional access for
// the requested resource, gets interaction_required (AADSTS50076) with a
// claims challenge for the API to relay to its client.
func (s *Server) grantOnBehalfOf(q *tokenRequest) (*tokenResponse, *aadError) {
	c, aerr := s.authenticateClient(q)
	if aerr != nil {
		return nil, aerr
	}
	if c.method == authNone {
		// A public client cannot keep a secret, so it cannot act for users.
		return nil, errNoClientCredential()
	}
	switch use := q.form.Get("requested_token_use"); use {
	case "on_behalf_of":
	case "":
		return nil, errMissingParameter("requested_token_use")
	default:
		return nil, errBadRequest("requested_token_use must be 'on_behalf_of' with the jwt-bearer grant.")
	}
	assertion := q.form.Get("assertion")
	if assertion == "" {
		return nil, errMissingParameter("assertion")
	}
	scopes, aerr := parseUserScopes(q.form.Get("scope"))
	if aerr != nil {
		return nil, aerr
	}
	claims, err := s.verifyAccessToken(assertion)
	switch {
	case errors.Is(err, errTokenExpired):
		return nil, newError(http.StatusBadRequest, "invalid_grant", 500133,
			"Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, "+
				"or request a new token. Current time: %s.", s.now().UTC().Format(time.RFC3339))
	case err != nil:
		return nil, errInvalidAssertion(err.Error())
	}
	tid := stringClaim(claims, "tid")
	if q.tenant != nil && q.tenant.id != tid {
		return nil, errInvalidAssertion("the assertion was issued by tenant " + tid + ", not by " + q.tenant.id)
	}
	if !assertionForApp(claims, c.app) {
		return nil, newError(http.StatusBadRequest, "invalid_grant", 500131,
			"Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '%s' "+
				"and the expected audience is '%s' or one of the Application Uris of this application with App ID '%s'(%s).",
			clip(strings.Join(audiences(claims), ","), 200), c.app.ClientID, c.app.ClientID, c.app.Name)
	}
	oid := stringClaim(claims, "oid")
	if stringClaim(claims, "idtyp") == "app" || stringClaim(claims, "scp") == "" || oid == "" {
		return nil, errInvalidAssertion("the assertion is an app-only token; on-behalf-of needs a token issued to a user")
	}
	t, _ := s.dir.tenant(tid) // verifyAccessToken checked that it exists
	u, ok := s.dir.userByObjectID(t, oid)
	if !ok {
		return nil, newError(http.StatusBadRequest, "invalid_grant", 50034,
			"The user account %s does not exist in the %s directory.", oid, tid)
	}
	if u.MFA {
		return nil, errMFARequired(scopes.resource)
	}
	authTime := s.now()
	if at, ok := numericClaim(claims, "auth_time"); ok {
		authTime = time.Unix(at, 0)
	}
	infoFrom(q.r.Context()).tenant = tid
	acrs, _ := claims["acrs"].([]any)
	steppedUp := slices.Contains(acrs, any("c1"))
	return s.issueUserTokens(q, userGrant{client: c, user: u, scopes: scopes, authTime: authTime, steppedUp: steppedUp})
}

// assertionForApp reports whether the assertion's audience is the app:
// its client id, one of its identifier URIs or its default application id
// URI, api://<client id>.
func assertionForApp(claims map[string]any, app *appRec) bool {
	for _, aud := range audiences(claims) {
		if app.matches(aud) || strings.EqualFold(aud, "api://"+app.ClientID) {
			return true
		}
	}
	return false
}

// underConditionalAccess reports whether a policy guards resource for u.
// A trailing slash does not matter, as in Entra ID resource URIs.
func (u *userRec) underConditionalAccess(resource string) bool {
	want := strings.TrimSuffix(resource, "/")
	for _, r := range u.ConditionalAccess {
		if strings.EqualFold(strings.TrimSuffix(r, "/"), want) {
			return true
		}
	}
	return false
}

// answers reports whether cr answers the challenge of one of the
// policies that guard a resource for u.
func (u *userRec) answers(cr claimsRequest) bool {
	return slices.ContainsFunc(u.ConditionalAccess, func(r string) bool { return cr.satisfies(conditionalAccessPolicy(r)) })
}

// userByObjectID finds a user of t by object id: an assertion names its
// user by oid, which survives a rename of the username.
func (d *directory) userByObjectID(t *tenantRec, oid string) (*userRec, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, u := range t.users {
		if strings.EqualFold(u.ObjectID, oid) {
			return u, true
		}
	}
	return nil, false
}

// errInvalidAssertion is Entra ID's answer to an assertion it did not
// issue or cannot read.
func errInvalidAssertion(reason string) *aadError {
	return newError(http.StatusBadRequest, "invalid_grant", 50013,
		"Assertion failed signature validation. [Reason - %s]", clip(reason, 200))
}

// errConditionalAccess is the answer when a conditional access policy
// requires more than the user's current sign-in for resource. The claims
// challenge names the policy (conditionalAccessPolicy); a request that
// sends it back as its claims parameter is issued the token.
func errConditionalAccess(resource string) *aadError {
	e := newError(http.StatusBadRequest, "interaction_required", 50076,
		"Due to a configuration change made by your administrator, or because you moved to a new location, "+
			"you must use multi-factor authentication to access '%s'.", resource)
	e.claims = `{"access_token":{"capolids":{"essential":true,"values":["` + conditionalAccessPolicy(resource) + `"]}}}`
	return e
}

// clip shortens s to at most n bytes on a rune boundary: parts of a
// hostile assertion are echoed in error descriptions.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
