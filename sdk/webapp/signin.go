package webapp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credhost/credhost/core/authority"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/msalerr"
)

// Sign-in failures that Callback reports to SignInOptions.OnError; match
// them with errors.Is. The IdP's own errors (the user cancelled, MFA) come
// as *sdk.Error.
var (
	// ErrNoSignIn: the callback came without a valid sign-in cookie
	// (none, or signed with another key, or tampered with).
	ErrNoSignIn = errors.New("webapp: no sign-in in progress for this browser")
	// ErrSignInExpired: the sign-in cookie is older than its lifetime.
	ErrSignInExpired = errors.New("webapp: the sign-in took too long; start again")
	// ErrStateMismatch: the callback's state is not the one this browser
	// was sent with, as in a login CSRF attempt.
	ErrStateMismatch = errors.New("webapp: the sign-in state does not match")
)

// DefaultSignInLifetime is how long a sign-in may take, from Start to
// Callback.
const DefaultSignInLifetime = 10 * time.Minute

// minCookieKey is the shortest accepted HMAC key: as long as the hash.
const minCookieKey = 32

// Code is what a Redeemer gets: an authorization code and what it must be
// redeemed with. Code and Verifier are secrets.
type Code struct {
	Code sdk.Secret
	// Verifier is the PKCE code_verifier of the authorization request.
	Verifier sdk.Secret
	// RedirectURI is the redirect URI of the authorization request, which
	// the token request must repeat exactly.
	RedirectURI string
	Scopes      []string
	// Nonce was sent in the authorization request; the ID token must
	// carry it, which the Redeemer checks.
	Nonce string
}

// AuthorizationCode is c as a TokenRequest carries it to the authcode
// plugin (TokenRequest.AuthorizationCode).
func (c Code) AuthorizationCode() sdk.AuthorizationCode {
	return sdk.AuthorizationCode{Code: c.Code, Verifier: c.Verifier, RedirectURI: c.RedirectURI, Nonce: c.Nonce}
}

// Result is a completed sign-in.
type Result struct {
	// Token is the access token for the sign-in's scopes.
	Token   sdk.Token
	Account sdk.Account
}

// Redeemer redeems an authorization code for the signed-in user's tokens
// (a confidential client's token request with its credential, the code,
// the redirect URI and the PKCE verifier) and checks the ID token's nonce
// against Code.Nonce. Implementations are safe for concurrent use.
//
// CredentialRedeemer redeems through credhost (the authcode plugin's
// web-app mode), which caches the user's tokens in the host's cache for
// later silent calls; MSALRedeemer does it in-process with MSAL and
// caches nothing credhost can use.
type Redeemer interface {
	Redeem(ctx context.Context, c Code) (Result, error)
}

// RedeemerFunc adapts a function to Redeemer.
type RedeemerFunc func(ctx context.Context, c Code) (Result, error)

// Redeem calls f.
func (f RedeemerFunc) Redeem(ctx context.Context, c Code) (Result, error) { return f(ctx, c) }

// SignInConfig is what a sign-in needs; every field is required.
type SignInConfig struct {
	// Authority is the tenant's authority, e.g.
	// https://login.microsoftonline.com/<tenant>; the authorization
	// endpoint is Authority + "/oauth2/v2.0/authorize".
	Authority string
	// ClientID is the web app's client id.
	ClientID string
	// RedirectURI is the absolute URL the Callback handler serves,
	// registered on the app exactly.
	RedirectURI string
	// Scopes are asked for besides openid, profile and offline_access.
	Scopes []string
	// CookieKey signs the sign-in cookie (HMAC-SHA256); at least 32
	// random bytes, the same on every instance of a web farm.
	CookieKey []byte
	// Redeemer redeems the code.
	Redeemer Redeemer
	// OnSignIn is called by Callback after a successful sign-in; it
	// starts the app's session and answers the browser.
	OnSignIn func(w http.ResponseWriter, r *http.Request, res Result)
}

// SignInOptions tunes a SignIn; nil means defaults.
type SignInOptions struct {
	// OnError answers a failed sign-in; default 400 with a fixed text.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// Lifetime bounds the time from Start to Callback; default
	// DefaultSignInLifetime.
	Lifetime time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// SignIn signs users in to a web app with the authorization code flow,
// PKCE (S256), state and nonce. It is safe for concurrent use.
type SignIn struct {
	cfg      SignInConfig
	onError  func(http.ResponseWriter, *http.Request, error)
	lifetime time.Duration
	now      func() time.Time
	secure   bool
}

// NewSignIn checks cfg and returns a SignIn. opts may be nil.
func NewSignIn(cfg SignInConfig, opts *SignInOptions) (*SignIn, error) {
	var errs []error
	if _, err := authority.Parse(cfg.Authority); err != nil {
		errs = append(errs, fmt.Errorf("Authority: %w", err))
	}
	ru, err := url.Parse(cfg.RedirectURI)
	if err != nil || (ru.Scheme != "https" && ru.Scheme != "http") || ru.Host == "" || ru.Fragment != "" {
		errs = append(errs, errors.New("RedirectURI must be an absolute http(s) URL without a fragment"))
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		errs = append(errs, errors.New("ClientID is required"))
	}
	if len(cfg.CookieKey) < minCookieKey {
		errs = append(errs, fmt.Errorf("CookieKey must be at least %d bytes", minCookieKey))
	}
	if cfg.Redeemer == nil || cfg.OnSignIn == nil {
		errs = append(errs, errors.New("Redeemer and OnSignIn are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("webapp: sign-in: %w", err)
	}
	s := &SignIn{cfg: cfg, lifetime: DefaultSignInLifetime, now: time.Now, secure: ru.Scheme == "https", onError: defaultOnError}
	s.cfg.CookieKey = append([]byte(nil), cfg.CookieKey...)
	s.cfg.Scopes = append([]string(nil), cfg.Scopes...)
	if opts != nil {
		if opts.OnError != nil {
			s.onError = opts.OnError
		}
		if opts.Lifetime > 0 {
			s.lifetime = opts.Lifetime
		}
		if opts.Now != nil {
			s.now = opts.Now
		}
	}
	return s, nil
}

func defaultOnError(w http.ResponseWriter, _ *http.Request, _ error) {
	http.Error(w, "sign-in failed; please start again", http.StatusBadRequest)
}

// signInState is what the cookie carries between Start and Callback.
type signInState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"` // Unix seconds
}

// cookieName is the sign-in cookie's name. The __Host- prefix makes the
// browser refuse the cookie unless it is Secure, host-only and for path
// "/", so a sibling subdomain cannot plant one.
func (s *SignIn) cookieName() string {
	if s.secure {
		return "__Host-credhost-signin"
	}
	return "credhost-signin"
}

// Start sends the browser to the authorization endpoint. It answers GET
// and POST alike.
func (s *SignIn) Start(w http.ResponseWriter, r *http.Request) {
	st := signInState{State: random(24), Nonce: random(24), Verifier: random(48), Expires: s.now().Add(s.lifetime).Unix()}
	http.SetCookie(w, s.cookie(s.seal(st), int(s.lifetime/time.Second)))
	challenge := sha256.Sum256([]byte(st.Verifier))
	v := url.Values{
		"client_id":     {s.cfg.ClientID},
		"response_type": {"code"},
		"redirect_uri":  {s.cfg.RedirectURI},
		// query, not form_post: the IdP's form_post is a cross-site POST,
		// on which browsers do not send a SameSite=Lax cookie; the
		// redirect back is a top-level GET, on which they do.
		"response_mode":         {"query"},
		"scope":                 {strings.Join(s.scopes(), " ")},
		"state":                 {st.State},
		"nonce":                 {st.Nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, strings.TrimSuffix(s.cfg.Authority, "/")+"/oauth2/v2.0/authorize?"+v.Encode(), http.StatusFound)
}

// Callback serves the redirect URI: it checks the sign-in cookie (which
// it clears: a sign-in is used once) and the state, then redeems the code
// and calls OnSignIn. Failures go to OnError: ErrNoSignIn,
// ErrSignInExpired, ErrStateMismatch, an *sdk.Error from the IdP or from
// the Redeemer.
func (s *SignIn) Callback(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.cookie("", -1))
	w.Header().Set("Cache-Control", "no-store")
	st, err := s.open(r)
	if err != nil {
		s.onError(w, r, err)
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		s.onError(w, r, ErrStateMismatch)
		return
	}
	if e := msalerr.FromRedirect("webapp", q); e != nil {
		s.onError(w, r, e)
		return
	}
	code := q.Get("code")
	if code == "" {
		s.onError(w, r, sdk.Failed("webapp", "the redirect carries neither a code nor an error"))
		return
	}
	res, err := s.cfg.Redeemer.Redeem(r.Context(), Code{
		Code: sdk.NewSecret(code), Verifier: sdk.NewSecret(st.Verifier), RedirectURI: s.cfg.RedirectURI,
		Scopes: s.scopes(), Nonce: st.Nonce,
	})
	if err != nil {
		s.onError(w, r, err)
		return
	}
	s.cfg.OnSignIn(w, r, res)
}

func (s *SignIn) scopes() []string {
	return append([]string{"openid", "profile", "offline_access"}, s.cfg.Scopes...)
}

func (s *SignIn) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: s.cookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
}

// seal encodes st and signs it.
func (s *SignIn) seal(st signInState) string {
	b, _ := json.Marshal(st)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload))
}

// open returns the request's sign-in state if its cookie is present,
// signed with our key and not expired.
func (s *SignIn) open(r *http.Request) (signInState, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return signInState{}, ErrNoSignIn
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(mac, s.mac(payload)) {
		return signInState{}, ErrNoSignIn
	}
	var st signInState
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &st) != nil || st.State == "" || st.Verifier == "" {
		return signInState{}, ErrNoSignIn
	}
	// The cookie's Max-Age is the browser's business; the signed expiry
	// is what counts, since a cookie can be replayed from elsewhere.
	if s.now().Unix() >= st.Expires {
		return signInState{}, ErrSignInExpired
	}
	return st, nil
}

// mac is the HMAC of a cookie payload. The label keeps these MACs from
// being valid for anything else signed with the same key.
func (s *SignIn) mac(payload string) []byte {
	h := hmac.New(sha256.New, s.cfg.CookieKey)
	h.Write([]byte("credhost-webapp-signin-v1\x00"))
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// random returns n random bytes, base64url encoded.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
