package emulator

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The authorization endpoint: GET /{tenant}/oauth2/v2.0/authorize checks
// the request and shows the sign-in page (signin_page.go); the page posts
// the credentials back to the same URL; on success the browser is sent to
// the app's redirect URI with an authorization code (response_mode
// form_post: an auto-submitting form; query: a 302). The code is redeemed
// at the token endpoint (grant_authorization_code.go), once, with the PKCE
// verifier if the request had a challenge.

// signInRec is an authorization request waiting for the user to sign in.
type signInRec struct {
	app          *appRec
	tenant       *tenantRec // nil for a multi-tenant alias
	redirectURI  string
	responseMode string // "form_post" or "query"
	state        string
	nonce        string
	scopes       userScopes
	challenge    string
	method       string // "S256" or "plain"; "" without PKCE
	loginHint    string
	expires      time.Time
}

// authCodeRec is an issued authorization code.
type authCodeRec struct {
	signIn   *signInRec
	user     *userRec
	authTime time.Time
	expires  time.Time
	redeemed bool
}

// handleAuthorize serves the authorization endpoint: GET starts a sign-in,
// POST is the sign-in page's form.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		s.signInSubmit(w, r)
		return
	}
	seg := r.PathValue("tenant")
	t, ok := s.resolveTenant(seg)
	if !ok {
		s.errorPage(w, r, errTenantNotFound("invalid_tenant", seg))
		return
	}
	if t != nil {
		infoFrom(r.Context()).tenant = t.id
	}
	in, redirectErr, pageErr := s.authorizeRequest(r, t)
	if pageErr != nil {
		// Without a valid client and redirect URI there is nowhere safe to
		// send the browser: say it on the page, like Entra ID.
		s.errorPage(w, r, pageErr)
		return
	}
	if redirectErr != nil {
		s.redirectError(w, r, in, redirectErr)
		return
	}
	s.users.mu.Lock()
	s.users.init()
	s.users.pruneLocked(s.now())
	id := randomToken(18)
	s.users.signIns[id] = in
	s.users.mu.Unlock()
	s.signInPage(w, r, id, in, "")
}

// authorizeRequest validates an authorization request. Problems with the
// client or the redirect URI are pageErr; later ones are redirectErr, sent
// back to the (now trusted) redirect URI.
func (s *Server) authorizeRequest(r *http.Request, t *tenantRec) (in *signInRec, redirectErr, pageErr *aadError) {
	p := r.URL.Query()
	clientID := p.Get("client_id")
	if clientID == "" {
		return nil, nil, errMissingParameter("client_id")
	}
	infoFrom(r.Context()).clientID = clientID
	var app *appRec
	var ok bool
	if t != nil {
		app, ok = s.dir.app(t, clientID)
	} else {
		app, ok = s.dir.appAnyTenant(clientID)
	}
	if !ok {
		tenant := r.PathValue("tenant")
		if t != nil {
			tenant = t.id
		}
		return nil, nil, errAppNotFound(clientID, tenant)
	}
	redirect := p.Get("redirect_uri")
	if redirect == "" {
		return nil, nil, errMissingParameter("redirect_uri")
	}
	registered := redirectRegistered(app.RedirectURIs, redirect)
	if !app.Public {
		// A web app's redirect URI is fixed, so it must match exactly:
		// the loopback port exception (RFC 8252) is for native apps,
		// whose port is chosen at run time, and would let any listener on
		// the web app's host receive its codes.
		registered = slices.Contains(app.RedirectURIs, redirect)
	}
	if !registered {
		return nil, nil, newError(http.StatusBadRequest, "invalid_request", 50011,
			"The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.",
			redirect, app.ClientID)
	}
	in = &signInRec{app: app, tenant: t, redirectURI: redirect, state: p.Get("state"), nonce: p.Get("nonce"),
		loginHint: p.Get("login_hint"), expires: s.now().Add(signInLifetime)}
	switch in.responseMode = p.Get("response_mode"); in.responseMode {
	case "":
		in.responseMode = "query"
	case "query", "form_post":
	default:
		in.responseMode = "query"
		return in, newError(http.StatusBadRequest, "invalid_request", 90023,
			"The authentication service request isn't valid: response_mode '%s' is not supported for the code flow by this emulator; use form_post or query.", p.Get("response_mode")), nil
	}
	if rt := p.Get("response_type"); rt != "code" {
		return in, newError(http.StatusBadRequest, "unsupported_response_type", 700054,
			"response_type '%s' is not enabled for the application; use 'code'.", rt), nil
	}
	var aerr *aadError
	if in.scopes, aerr = parseUserScopes(p.Get("scope")); aerr != nil {
		return in, aerr, nil
	}
	in.challenge, in.method = p.Get("code_challenge"), p.Get("code_challenge_method")
	switch {
	case in.challenge == "" && in.method != "":
		return in, errMissingParameter("code_challenge"), nil
	case in.challenge != "" && in.method == "":
		in.method = "plain"
	case in.challenge != "" && in.method != "S256" && in.method != "plain":
		return in, errBadRequest("code_challenge_method must be S256 or plain."), nil
	}
	if p.Get("prompt") == "none" {
		return in, newError(http.StatusBadRequest, "login_required", 50058,
			"A silent sign-in request was sent but no user is signed in."), nil
	}
	return in, nil, nil
}

// signInSubmit handles the sign-in page's form: check the credentials,
// then send the browser to the redirect URI with a code.
func (s *Server) signInSubmit(w http.ResponseWriter, r *http.Request) {
	id := r.PostForm.Get("sign_in")
	now := s.now()
	s.users.mu.Lock()
	in, ok := s.users.signIns[id]
	if ok && !now.Before(in.expires) {
		ok = false
	}
	s.users.mu.Unlock()
	if !ok {
		s.errorPage(w, r, newError(http.StatusBadRequest, "invalid_request", 90023,
			"The authentication service request isn't valid: the sign-in session is unknown or expired; start again from the application."))
		return
	}
	infoFrom(r.Context()).clientID = in.app.ClientID
	username := strings.TrimSpace(r.PostForm.Get("username"))
	u, found := s.findUser(in.tenant, username)
	auto := r.PostForm.Get("auto") == "1" && s.opts.AutoSignIn != "" && strings.EqualFold(username, s.opts.AutoSignIn)
	if !found || (!auto && !passwordMatches(u, r.PostForm.Get("password"))) {
		infoFrom(r.Context()).aadsts = 50126
		s.signInPage(w, r, id, in, errBadPassword.Error()+".")
		return
	}
	infoFrom(r.Context()).tenant = u.tenantID
	s.users.mu.Lock()
	delete(s.users.signIns, id)
	s.users.mu.Unlock()
	if u.MFA {
		s.redirectError(w, r, in, errMFARequired(in.scopes.resource))
		return
	}
	code := "ac." + randomToken(48)
	s.users.mu.Lock()
	s.users.init()
	s.users.authCodes[secretKey(code)] = &authCodeRec{signIn: in, user: u, authTime: now, expires: now.Add(authCodeLifetime)}
	s.users.mu.Unlock()
	s.redirect(w, r, in, url.Values{"code": {code}})
}

// redirectError sends an OAuth error to the redirect URI.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, in *signInRec, e *aadError) {
	info := infoFrom(r.Context())
	info.aadsts = e.code
	v := url.Values{
		"error":             {e.oauth},
		"error_description": {"AADSTS" + strconv.Itoa(e.code) + ": " + e.desc + "\r\nTrace ID: " + info.traceID + "\r\nCorrelation ID: " + info.correlationID},
		"error_codes":       {strconv.Itoa(e.code)},
		"correlation_id":    {info.correlationID},
		"trace_id":          {info.traceID},
	}
	if e.subError != "" {
		v.Set("suberror", e.subError)
	}
	if e.claims != "" {
		v.Set("claims", e.claims)
	}
	s.redirect(w, r, in, v)
}

// redirect sends v (plus state) to the redirect URI by the request's
// response mode.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, in *signInRec, v url.Values) {
	if in.state != "" {
		v.Set("state", in.state)
	}
	if in.responseMode == "form_post" {
		s.formPostPage(w, in.redirectURI, v)
		return
	}
	u, err := url.Parse(in.redirectURI)
	if err != nil {
		s.errorPage(w, r, errServer(err))
		return
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// redirectRegistered reports whether uri matches one of the registered
// redirect URIs. For loopback hosts (localhost, 127.0.0.1, [::1]) over
// http the port is ignored, as RFC 8252 asks and Entra ID does; an empty
// path equals "/".
func redirectRegistered(registered []string, uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || u.Fragment != "" {
		return false
	}
	for _, reg := range registered {
		if reg == uri {
			return true
		}
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || u.Scheme != "http" || !isLoopbackHost(ru.Hostname()) {
			continue
		}
		if strings.EqualFold(ru.Hostname(), u.Hostname()) && cleanPath(ru.Path) == cleanPath(u.Path) && ru.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}

func isLoopbackHost(h string) bool {
	return strings.EqualFold(h, "localhost") || h == "127.0.0.1" || h == "::1"
}

func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// pkceMatches checks a code_verifier against the request's challenge.
func pkceMatches(in *signInRec, verifier string) bool {
	want := verifier
	if in.method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(in.challenge)) == 1
}

// passwordMatches compares password with u's in constant time.
func passwordMatches(u *userRec, password string) bool {
	return u.Password != "" && subtle.ConstantTimeCompare([]byte(password), []byte(u.Password)) == 1
}
