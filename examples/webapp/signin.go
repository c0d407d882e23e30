package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/webapp"
)

// The web-app side of the example: a user signs in (GET /login, then the
// IdP, then GET /callback, where the code is redeemed through credhost's
// authcode plugin in web-app mode and the user's tokens go to the host's
// cache); GET /hello then gets a token for the API silently, for that
// user, and calls the API's GET /me, which calls the downstream API on
// the user's behalf (on-behalf-of).

// sessionLifetime bounds a signed-in session of the example.
const sessionLifetime = 8 * time.Hour

// webAppConfig is what the web-app side needs.
type webAppConfig struct {
	// Authority, ClientID and RedirectURI are the web app's, as in its
	// credhost profile and app registration.
	Authority, ClientID, RedirectURI string
	// CookieKey signs the sign-in and session cookies (32 bytes or more).
	CookieKey []byte
	// Cred is the web app's credhost profile: chain ["authcode"] with
	// mode = "webapp".
	Cred sdk.Credential
	// APIURL is the API called with the user's token for APIScopes.
	APIURL    string
	APIScopes []string
	HTTP      *http.Client
	Log       zerolog.Logger
}

// webApp serves the web-app routes. It is safe for concurrent use.
type webApp struct {
	cfg    webAppConfig
	signIn *webapp.SignIn
	secure bool
}

// addWebApp adds GET /, /login, /callback and /hello to mux.
func addWebApp(mux *http.ServeMux, cfg webAppConfig) error {
	a := &webApp{cfg: cfg, secure: strings.HasPrefix(cfg.RedirectURI, "https://")}
	s, err := webapp.NewSignIn(webapp.SignInConfig{
		Authority: cfg.Authority, ClientID: cfg.ClientID, RedirectURI: cfg.RedirectURI, Scopes: cfg.APIScopes,
		CookieKey: cfg.CookieKey, Redeemer: webapp.NewCredentialRedeemer(cfg.Cred), OnSignIn: a.onSignIn,
	}, &webapp.SignInOptions{OnError: a.onError})
	if err != nil {
		return err
	}
	a.signIn = s
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", s.Start)
	mux.HandleFunc("GET /callback", s.Callback)
	mux.HandleFunc("GET /hello", a.hello)
	return nil
}

var homePage = template.Must(template.New("home").Parse(`<!doctype html><title>credhost example</title>
{{if .}}<p>Signed in as {{.}}.</p><p><a href="/hello">Call the API for me</a></p>
{{else}}<p><a href="/login">Sign in</a></p>{{end}}`))

func (a *webApp) home(w http.ResponseWriter, r *http.Request) {
	s, _ := a.session(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = homePage.Execute(w, s.Username)
}

// onSignIn starts the user's session: the redemption already put their
// tokens in credhost's cache, so the session only needs to say who they
// are (the home account id, which later requests pass as
// TokenRequest.Account).
func (a *webApp) onSignIn(w http.ResponseWriter, r *http.Request, res webapp.Result) {
	http.SetCookie(w, a.sessionCookie(session{Home: res.Account.HomeAccountID, Username: res.Account.Username,
		Expires: time.Now().Add(sessionLifetime).Unix()}))
	a.cfg.Log.Info().Str("flow", res.Token.Flow).Msg("signed in")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// onError logs why a sign-in failed; the browser gets a fixed text, since
// error text is for logs.
func (a *webApp) onError(w http.ResponseWriter, _ *http.Request, err error) {
	a.cfg.Log.Info().Str("kind", sdk.KindOf(err).String()).Err(err).Msg("sign-in failed")
	http.Error(w, "sign-in failed; please start again from the home page", http.StatusBadRequest)
}

// hello calls the API for the signed-in user with a token credhost gets
// silently from the user's cached sign-in.
func (a *webApp) hello(w http.ResponseWriter, r *http.Request) {
	s, ok := a.session(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	tok, err := a.cfg.Cred.GetToken(r.Context(), sdk.TokenRequest{Scopes: a.cfg.APIScopes, Account: s.Home})
	if err != nil {
		a.cfg.Log.Info().Str("kind", sdk.KindOf(err).String()).Err(err).Msg("no token for the API")
		if sdk.KindOf(err) == sdk.KindInteractionRequired {
			// Nothing usable is cached for the user (or the tenant wants
			// more of them): sign in again.
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		http.Error(w, "the API could not be called", http.StatusBadGateway)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, a.cfg.APIURL, nil)
	if err != nil {
		http.Error(w, "bad API URL", http.StatusInternalServerError)
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken.Reveal())
	resp, err := a.cfg.HTTP.Do(req)
	if err != nil {
		a.cfg.Log.Info().Err(err).Msg("API call failed")
		http.Error(w, "the API could not be reached", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, maxDownstreamBody))
}

// session is what the session cookie says about the user.
type session struct {
	Home     string `json:"h"`
	Username string `json:"u"`
	Expires  int64  `json:"e"` // Unix seconds
}

func (a *webApp) cookieName() string {
	if a.secure {
		return "__Host-example-session"
	}
	return "example-session"
}

func (a *webApp) sessionCookie(s session) *http.Cookie {
	b, _ := json.Marshal(s)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return &http.Cookie{Name: a.cookieName(), Value: payload + "." + base64.RawURLEncoding.EncodeToString(a.mac(payload)),
		Path: "/", MaxAge: int(sessionLifetime / time.Second), HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode}
}

// session returns the request's session if its cookie is ours and not
// expired.
func (a *webApp) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(a.cookieName())
	if err != nil {
		return session{}, false
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(mac, a.mac(payload)) {
		return session{}, false
	}
	var s session
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &s) != nil || s.Home == "" || time.Now().Unix() >= s.Expires {
		return session{}, false
	}
	return s, true
}

// mac signs a session payload; the label keeps it from being valid as
// sdk/webapp's sign-in cookie, which the same key signs.
func (a *webApp) mac(payload string) []byte {
	h := hmac.New(sha256.New, a.cfg.CookieKey)
	h.Write([]byte("credhost-example-session-v1\x00"))
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// errNoCookieKey is returned when the web app is asked for without a key.
var errNoCookieKey = errors.New("WEBAPP_COOKIE_KEY must hold at least 32 random bytes, base64-encoded")
