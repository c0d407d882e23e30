package emulator

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// User-token issuance, shared by every grant that signs a user in (device
// code, authorization code, refresh token; later password, SAML and
// on-behalf-of). A grant decides who the user is and whether the sign-in
// is good enough; issueUserTokens mints what MSAL needs to build an
// account: an access token, an id_token, client_info and a refresh token.

// Lifetimes of what the emulator issues besides access tokens.
const (
	refreshTokenLifetime = 90 * 24 * time.Hour
	authCodeLifetime     = 10 * time.Minute
	signInLifetime       = 15 * time.Minute
)

// graphResource is the resource of scopes named without one ("User.Read"),
// as Entra ID reads them.
const graphResource = "https://graph.microsoft.com"

// userScopes is a parsed scope parameter of a user grant.
type userScopes struct {
	// requested is every scope as sent (OIDC ones included), echoed back
	// in the response's scope: MSAL requires every requested scope there.
	requested []string
	// resource is the one resource of the resource scopes; graphResource
	// if only OIDC scopes were asked for.
	resource string
	// permissions are the resource scopes without their resource, e.g.
	// "User.Read" or ".default".
	permissions []string
	// offline is whether offline_access was asked for (a refresh token).
	offline bool
}

// parseUserScopes reads a scope parameter. Like Entra ID, it accepts scopes
// of one resource only ("https://graph.microsoft.com/User.Read",
// "api://app/.default", or "User.Read" for Graph) plus the OIDC scopes.
func parseUserScopes(scope string) (userScopes, *aadError) {
	var us userScopes
	for _, sc := range strings.Fields(scope) {
		us.requested = append(us.requested, sc)
		lower := strings.ToLower(sc)
		if oidcScopes[lower] {
			us.offline = us.offline || lower == "offline_access"
			continue
		}
		resource, perm := graphResource, sc
		if i := strings.LastIndex(sc, "/"); i >= 0 {
			resource, perm = sc[:i], sc[i+1:]
		}
		if resource == "" || perm == "" {
			return userScopes{}, errInvalidScope(sc, "A scope is a resource identifier followed by a permission, e.g. https://graph.microsoft.com/User.Read.")
		}
		if us.resource != "" && !strings.EqualFold(us.resource, resource) {
			return userScopes{}, newError(http.StatusBadRequest, "invalid_scope", 28000,
				"Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", scope)
		}
		us.resource = resource
		us.permissions = append(us.permissions, perm)
	}
	if len(us.requested) == 0 {
		return userScopes{}, errMissingParameter("scope")
	}
	if us.resource == "" {
		us.resource = graphResource
	}
	return us, nil
}

// userGrant is who signed in, for whom and how: everything a user grant
// has decided before tokens are minted.
type userGrant struct {
	client client
	user   *userRec
	scopes userScopes
	// nonce comes from the authorization request, echoed in the id_token.
	nonce string
	// authTime is when the user entered their credentials.
	authTime time.Time
	// interactive is set for grants redeeming a sign-in page's result
	// (authorization code, device code): the user consented there to
	// what the client asked for.
	interactive bool
	// steppedUp is set for on-behalf-of with an assertion that carries
	// acrs: its user already answered a claims challenge, which satisfies
	// the policies of the downstream resource, as Entra ID's MFA state
	// in the incoming token does.
	steppedUp bool
}

// issueUserTokens mints the tokens of g's sign-in as seen on q's host:
// an access token for the resource, an id_token for the client, the
// client_info MSAL builds accounts from and, when offline_access was asked
// for, a new refresh token remembered by the server.
func (s *Server) issueUserTokens(q *tokenRequest, g userGrant) (*tokenResponse, *aadError) {
	now := s.now()
	lifetime := s.opts.TokenLifetime
	tid := g.user.tenantID
	iss := issuerURL(q.host, tid)
	name := g.user.DisplayName
	if name == "" {
		name = g.user.Username
	}
	t, _ := s.dir.tenant(tid)
	res, aerr := s.resolveResource(t, g.scopes.resource)
	if aerr != nil {
		return nil, aerr
	}
	cr, aerr := parseClaimsParam(q.form.Get("claims"))
	if aerr != nil {
		return nil, aerr
	}
	var extra map[string]any
	if g.user.underConditionalAccess(g.scopes.resource) || g.user.underConditionalAccess(res.app.ClientID) {
		if !g.steppedUp && !cr.satisfies(conditionalAccessPolicy(g.scopes.resource)) {
			return nil, errConditionalAccess(g.scopes.resource)
		}
		// The client answered the challenge: the user stepped up.
		extra = map[string]any{"acrs": []string{"c1"}}
	} else if g.user.answers(cr) {
		// A client answering a challenge a web API relayed from its
		// downstream resource: the user stepped up here, and the token
		// (the web API's on-behalf-of assertion) says so.
		extra = map[string]any{"acrs": []string{"c1"}}
	}
	if len(cr.xmsCC) > 0 {
		if extra == nil {
			extra = map[string]any{}
		}
		extra["xms_cc"] = cr.xmsCC
	}
	scp := "openid profile"
	if len(g.scopes.permissions) > 0 {
		if g.interactive {
			s.users.consent(g, res.app)
		}
		if scp, aerr = s.delegatedScopes(t, g.client.app, res, g.scopes.permissions, s.users.consented(g, res.app)); aerr != nil {
			return nil, aerr
		}
	}
	at, err := s.mintAccessToken(accessToken{
		host: q.host, tenantID: tid, res: res,
		clientID: g.client.app.ClientID, azpacr: g.client.azpacr(), appOID: g.client.app.objectID,
		user: g.user, scp: scp, extra: extra,
	})
	if err != nil {
		return nil, errServer(err)
	}
	idClaims := map[string]any{
		"aud":                g.client.app.ClientID,
		"iss":                iss,
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(time.Hour).Unix(),
		"auth_time":          g.authTime.Unix(),
		"tid":                tid,
		"oid":                g.user.ObjectID,
		"sub":                stableGUID("sub", g.user.ObjectID, strings.ToLower(g.client.app.ClientID)),
		"preferred_username": g.user.Username,
		"name":               name,
		"ver":                "2.0",
		"aio":                randomToken(48),
		"rh":                 "0." + randomToken(36) + ".",
		"uti":                newUTI(),
	}
	if g.nonce != "" {
		idClaims["nonce"] = g.nonce
	}
	idt, err := s.signToken(idClaims)
	if err != nil {
		return nil, errServer(err)
	}
	ci, _ := json.Marshal(map[string]string{"uid": g.user.ObjectID, "utid": tid})
	secs := int64(lifetime.Seconds())
	resp := &tokenResponse{
		TokenType:    "Bearer",
		Scope:        strings.Join(g.scopes.requested, " "),
		ExpiresIn:    secs,
		ExtExpiresIn: secs,
		AccessToken:  at,
		IDToken:      idt,
		ClientInfo:   base64.RawURLEncoding.EncodeToString(ci),
	}
	if g.scopes.offline {
		resp.RefreshToken = s.users.newRefreshToken(g, now)
	}
	return resp, nil
}

// consentKey names a user's consent to a client on a resource.
func consentKey(g userGrant, res *appRec) string {
	return strings.ToLower(g.user.tenantID + "|" + g.client.app.ClientID + "|" + g.user.ObjectID + "|" + res.ClientID)
}

// consent records that g's user consented, on a sign-in page, to the
// permissions g asks on res.
func (u *userState) consent(g userGrant, res *appRec) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.init()
	k := consentKey(g, res)
	for _, p := range g.scopes.permissions {
		if p != ".default" && !containsFold(u.consents[k], p) {
			u.consents[k] = append(u.consents[k], p)
		}
	}
}

// consented returns what g's user consented to for g's client on res.
func (u *userState) consented(g userGrant, res *appRec) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.consents[consentKey(g, res)]...)
}

// refreshRec is what the server remembers of a refresh token.
type refreshRec struct {
	clientID string
	user     *userRec
	authTime time.Time
	expires  time.Time
}

// newRefreshToken returns an opaque refresh token for g's sign-in and
// remembers it (by hash only).
func (u *userState) newRefreshToken(g userGrant, now time.Time) string {
	rt := "rt." + randomToken(48)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.init()
	u.pruneLocked(now)
	u.refreshTokens[secretKey(rt)] = &refreshRec{
		clientID: g.client.app.ClientID,
		user:     g.user,
		authTime: g.authTime,
		expires:  now.Add(refreshTokenLifetime),
	}
	return rt
}

// secretKey is the map key of a secret value: the raw value is kept only
// by the client it was issued to.
func secretKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// randomToken returns n random bytes, base64url encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
