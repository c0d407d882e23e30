package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/internal/clientauth"
	"github.com/credhost/credhost/internal/httpclient"
	"github.com/credhost/credhost/internal/publicclient"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/msalerr"
)

// Flow identity.
const (
	flowName    = "authcode"
	flowVersion = "0.1.0"
)

// Options of the flow, besides publicclient.OptLoginHint and, in web-app
// mode, clientauth's.
const (
	optRedirectPort = "redirect_port"
	optTimeout      = "timeout"
	optBrowser      = "browser"
	optMode         = "mode"
)

// Values of optMode. The mode is chosen explicitly rather than guessed
// from the presence of a client secret: adding a secret to a desktop
// profile must not silently turn its browser sign-in off.
const (
	modeInteractive = "interactive" // the default
	modeWebApp      = "webapp"
)

// defaultTimeout bounds the wait for the user to finish signing in.
const defaultTimeout = 5 * time.Minute

// oidcScopes are the scopes MSAL adds to every user sign-in: an id_token
// for the account, a refresh token for silent calls later.
var oidcScopes = []string{"openid", "offline_access", "profile"}

// newFlow returns the authorization code flow, unconfigured, looking at
// the process's environment for a browser.
func newFlow() sdk.Flow {
	return &flow{newHTTP: httpclient.New, env: environ{goos: runtime.GOOS, getenv: os.Getenv, lookPath: exec.LookPath}}
}

// flow is the OAuth 2.0 authorization code grant with PKCE. In
// interactive mode it is a public client on a desktop (RFC 8252): the
// user signs in in a browser that posts the code back to a loopback
// listener. Tokens and the refresh token go to the host's cache, so later
// calls are silent. It works with every authority tenant, "common"
// included. In web-app mode (webapp.go) it is a web app's confidential
// client that redeems codes its caller got and answers silently per user.
// It is safe for concurrent use: Configure swaps an immutable state;
// GetToken works on a snapshot, and each sign-in has its own listener.
type flow struct {
	// newHTTP builds the HTTP client to the IdP; tests wrap it.
	newHTTP func(extraRootsPEM []byte) (*http.Client, error)
	// env is where the flow looks for a browser; tests give their own.
	env environ

	mu    sync.Mutex
	state *state // nil until Configure succeeds
}

// state is one successful Configure.
type state struct {
	profile string // for the hint to sign in with credhost login
	// web is the web-app mode's state; nil in interactive mode, where
	// the fields below are used.
	web *webApp

	loginHint string
	port      int // 0: a free port per sign-in
	timeout   time.Duration
	browser   string // a command overriding $BROWSER, or ""
	clientID  string
	client    *publicclient.Client
}

// Describe implements sdk.Flow.
func (f *flow) Describe() sdk.Description {
	return sdk.Description{
		Name:        flowName,
		Version:     flowVersion,
		Interactive: true,
		Options:     options(),
	}
}

// options are the interactive mode's options, then mode, then clientauth's
// client credentials (their Secret marks included) for the web-app mode.
func options() []sdk.OptionSpec {
	opts := []sdk.OptionSpec{
		publicclient.LoginHintOption(),
		{Name: optRedirectPort, Help: "loopback port of the redirect URI http://127.0.0.1:<port> (default: a free port per sign-in)"},
		{Name: optTimeout, Help: "how long to wait for the sign-in in the browser, e.g. 90s or 10m (default 5m)"},
		{Name: optBrowser, Help: "command that opens the sign-in URL (appended as its argument, or put where %s is); overrides BROWSER"},
		{Name: optMode, Help: `"interactive" (default): a person signs in in this machine's browser; "webapp": a web app's confidential client redeems the codes of its own sign-in pages (sdk/webapp) and gets its users' tokens silently; needs one client credential`},
	}
	for _, o := range clientauth.Options() {
		o.Help = `mode = "webapp" only: ` + o.Help
		opts = append(opts, o)
	}
	return opts
}

// interactiveOnly are the options the web-app mode refuses.
var interactiveOnly = map[string]bool{publicclient.OptLoginHint: true, optRedirectPort: true, optTimeout: true, optBrowser: true}

// isClientAuthOption reports whether k is one of clientauth's options.
func isClientAuthOption(k string) bool {
	for _, o := range clientauth.Options() {
		if o.Name == k {
			return true
		}
	}
	return false
}

// Configure implements sdk.Flow: it checks the authority and client id
// and the options, and builds the MSAL client. No network I/O. On error
// the previous configuration (if any) stays in force.
func (f *flow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	switch m := strings.TrimSpace(cfg.Options[optMode]); m {
	case modeWebApp:
		return f.configureWebApp(ctx, cfg)
	case "", modeInteractive:
	default:
		ce := &sdk.ConfigError{Flow: flowName}
		ce.Add(optMode, "must be %q or %q, got %q", modeInteractive, modeWebApp, m)
		return ce
	}
	ce := &sdk.ConfigError{Flow: flowName}
	publicclient.CheckAuthority(flowName, cfg, nil, ce)
	st := &state{timeout: defaultTimeout, clientID: cfg.ClientID, profile: cfg.Profile}
	for k, v := range cfg.Options {
		v = strings.TrimSpace(v)
		switch k {
		case optMode:
		case publicclient.OptLoginHint:
			st.loginHint = v
		case optRedirectPort:
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				ce.Add(k, "must be a port number from 1 to 65535, got %q", v)
			}
			st.port = p
		case optTimeout:
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				ce.Add(k, "must be a positive duration such as 90s or 10m, got %q", v)
			}
			st.timeout = d
		case optBrowser:
			if v == "" {
				ce.Add(k, "must name a command; leave it out to use BROWSER or the system's browser")
			}
			st.browser = v
		default:
			if isClientAuthOption(k) {
				ce.Add(k, "is a client credential, used only with mode = %q (a web app's confidential client)", modeWebApp)
				continue
			}
			ce.Add(k, "unknown option; authcode accepts %s, %s, %s, %s and %s", publicclient.OptLoginHint, optRedirectPort, optTimeout, optBrowser, optMode)
		}
	}
	for k := range cfg.Secrets {
		ce.Add(k, "interactive sign-in takes no secret settings; client credentials need mode = %q", modeWebApp)
	}
	hc, err := f.newHTTP(cfg.CACertificates)
	if err != nil {
		ce.Add("ca_file", "%v", err)
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	if st.client, err = publicclient.New(flowName, cfg, hc); err != nil {
		return err
	}
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("client_id", cfg.ClientID).Msg("configured")
	return nil
}

// configureWebApp is Configure for mode = "webapp": the client id, an
// authority with a tenant, and exactly one client credential (clientauth
// checks and loads it, as for every confidential flow). No network I/O.
func (f *flow) configureWebApp(ctx context.Context, cfg sdk.FlowConfig) error {
	ce := &sdk.ConfigError{Flow: flowName}
	clientauth.CheckCommon(cfg, ce)
	for k := range cfg.Options {
		switch {
		case k == optMode || isClientAuthOption(k):
		case interactiveOnly[k]:
			ce.Add(k, "applies only to the interactive mode: in web-app mode the web app's own pages sign the user in (sdk/webapp)")
		default:
			ce.Add(k, "unknown option")
		}
	}
	for k := range cfg.Secrets {
		if !isClientAuthOption(k) {
			ce.Add(k, "unknown secret setting")
		}
	}
	cred, err := clientauth.Load(cfg)
	if err != nil {
		var lce *sdk.ConfigError
		if !errors.As(err, &lce) {
			return err
		}
		ce.Fields = append(ce.Fields, lce.Fields...)
	}
	hc, err := f.newHTTP(cfg.CACertificates)
	if err != nil {
		ce.Add("ca_file", "%v", err)
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	st := &state{web: newWebApp(cfg, cred, hc), clientID: cfg.ClientID}
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("client_id", cfg.ClientID).Str("mode", modeWebApp).Msg("configured")
	return nil
}

// GetToken implements sdk.Flow. In interactive mode it answers from the
// host's cache when it can (a cached access token, else the refresh
// token); otherwise it signs the user in through a browser, if this
// machine has one the user can see. In web-app mode it redeems a code or
// answers silently for a signed-in user (see webapp.go).
func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, host sdk.Services) (sdk.Token, error) {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Token{}, sdk.Unavailable(flowName, "not configured")
	}
	if st.web != nil {
		return st.web.getToken(ctx, req, host)
	}
	scopes, err := publicclient.Scopes(flowName, req)
	if err != nil {
		return sdk.Token{}, err
	}
	ctx = publicclient.WithCache(ctx, host.Cache)
	tok, err := st.client.Silent(ctx, req, scopes, st.loginHint)
	if err == nil || !errors.Is(err, publicclient.ErrInteractionNeeded) {
		return tok, err
	}
	// Decided before anything listens or reaches the network, so a chain
	// on a headless machine moves on to the next flow at once.
	browser, berr := findBrowser(f.env, st.browser)
	if berr != nil {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName, Err: berr, Hint: hintNoBrowser}
	}
	if !sdk.CanPrompt(host.UI) {
		// The host says nobody can see a prompt: a browser window would
		// open in front of no one.
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName,
			Err:  errors.New("a browser sign-in needs someone at the screen, and the host has no UI"),
			Hint: publicclient.NoUIHint(st.profile)}
	}
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("reason", err.Error()).Str("browser", browser.name()).Msg("signing in with a browser")
	return st.signIn(ctx, req, scopes, publicclient.Claims(req, err), host.UI, browser)
}

// signIn runs one interactive sign-in: listener, authorization URL,
// prompt, browser, then the wait for the response and the redemption of
// the code. The listener is closed when it returns.
func (st *state) signIn(ctx context.Context, req sdk.TokenRequest, scopes []string, claims string, ui sdk.UI, browser browserCmd) (sdk.Token, error) {
	log := zerolog.Ctx(ctx)
	verifier, challenge := newPKCE()
	l, err := listen(st.port, randomString(32))
	if err != nil {
		err = listenError(st.port, err)
		e := &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: err}
		if errors.Is(err, errPortInUse) {
			e.Hint = "another program (or another credhost sign-in) uses redirect_port; free it, pick another port, or leave redirect_port out"
		}
		return sdk.Token{}, e
	}
	defer l.close()
	authURL, err := st.authorizeURL(ctx, req, scopes, claims, l, challenge)
	if err != nil {
		return sdk.Token{}, publicclient.Classify(flowName, err)
	}
	// ExpiresOn is when this wait gives up: the host lets the call run
	// until then, beyond the profile's timeout.
	if err := ui.Prompt(ctx, sdk.Prompt{
		Message:         "Opening your browser to sign in; if it does not open, visit: " + authURL,
		VerificationURI: authURL,
		ExpiresOn:       time.Now().Add(st.timeout),
	}); err != nil {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName, Err: fmt.Errorf("showing the sign-in prompt: %w", err)}
	}
	exited, err := browser.open(authURL)
	if err != nil {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName,
			Err: fmt.Errorf("no browser: starting %s: %w", browser.name(), err), Hint: hintNoBrowser}
	}
	log.Debug().Str("flow", flowName).Str("browser", browser.name()).Str("redirect_uri", l.redirectURI).
		Dur("timeout", st.timeout).Msg("waiting for the sign-in response")

	timer := time.NewTimer(st.timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Debug().Str("flow", flowName).Msg("sign-in cancelled")
			return sdk.Token{}, publicclient.Classify(flowName, ctx.Err())
		case <-timer.C:
			return sdk.Token{}, st.timeoutError(l)
		case werr := <-exited:
			exited = nil // a nil channel is never ready again
			if werr != nil {
				// xdg-open and friends exit non-zero when they found no
				// browser to hand the URL to.
				return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName,
					Err: fmt.Errorf("no browser: %s failed before the sign-in finished: %w", browser.name(), werr), Hint: hintNoBrowser}
			}
		case resp := <-l.responses:
			tok, p, err := st.redeem(ctx, req, scopes, claims, l.redirectURI, verifier, resp.fields)
			resp.reply <- p
			if err != nil {
				log.Debug().Str("flow", flowName).Str("kind", sdk.KindOf(err).String()).Msg("sign-in failed")
				ui.Progress(ctx, "browser sign-in ended without a token")
				return sdk.Token{}, err
			}
			ui.Progress(ctx, "signed in as "+tok.Account.Username)
			log.Debug().Str("flow", flowName).Msg("browser sign-in complete")
			return tok, nil
		}
	}
}

// authorizeURL builds the authorization request. MSAL resolves the
// authorization endpoint from the tenant's discovery document and adds
// the client, redirect URI, scopes, claims and login hint; the parts of an
// interactive request its AuthCodeURL leaves out are added here: state,
// the PKCE challenge, response_mode=form_post (the code never appears in a
// URL or the browser's history) and the prompt.
func (st *state) authorizeURL(ctx context.Context, req sdk.TokenRequest, scopes []string, claims string, l *listener, challenge string) (string, error) {
	msal := st.client.MSAL()
	hint := st.loginHintFor(ctx, req)
	var opts []public.AuthCodeURLOption
	if hint != "" {
		opts = append(opts, public.WithLoginHint(hint))
	}
	if claims != "" {
		opts = append(opts, public.WithClaims(claims))
	}
	if req.TenantID != "" {
		opts = append(opts, public.WithTenantID(req.TenantID))
	}
	raw, err := msal.AuthCodeURL(ctx, st.clientID, l.redirectURI, withOIDC(scopes), opts...)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("the authorization endpoint is not a URL: %w", err)
	}
	q := u.Query()
	q.Set("state", l.state)
	q.Set("code_challenge", challenge)
	q.Set("code_challenge_method", "S256")
	q.Set("response_mode", "form_post")
	if hint == "" {
		// Without a known account, let the user pick one rather than
		// silently reuse whoever the browser is signed in as.
		q.Set("prompt", "select_account")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// loginHintFor returns the username to put in login_hint: the request's
// account if it is a username, the username of the cached account it
// names if it is a home account id, else the login_hint option.
func (st *state) loginHintFor(ctx context.Context, req sdk.TokenRequest) string {
	a := strings.TrimSpace(req.Account)
	switch {
	case a == "":
		return st.loginHint
	case strings.Contains(a, "@"):
		return a
	}
	accounts, err := st.client.MSAL().Accounts(ctx)
	if err == nil {
		for _, acct := range accounts {
			if acct.HomeAccountID == a {
				return acct.PreferredUsername
			}
		}
	}
	return st.loginHint
}

// redeem turns an authorization response into a token and the page that
// answers the browser. An error response is classified as the IdP's own
// error (msalerr.FromRedirect); a code is redeemed with the PKCE verifier
// through MSAL, which stores the tokens in the host's cache.
func (st *state) redeem(ctx context.Context, req sdk.TokenRequest, scopes []string, claims, redirectURI, verifier string, fields url.Values) (sdk.Token, page, error) {
	if e := msalerr.FromRedirect(flowName, fields); e != nil {
		publicclient.SignInHint(e)
		return sdk.Token{}, failurePage(e), e
	}
	code := fields.Get("code")
	if code == "" {
		e := &sdk.Error{Kind: sdk.KindFailed, Flow: flowName,
			Err:  errors.New("the sign-in response carried neither an authorization code nor an error"),
			Hint: "the identity provider answered in a way credhost does not understand; run the command again"}
		return sdk.Token{}, failurePage(e), e
	}
	opts := []public.AcquireByAuthCodeOption{public.WithChallenge(verifier)}
	if claims != "" {
		opts = append(opts, public.WithClaims(claims))
	}
	if req.TenantID != "" {
		opts = append(opts, public.WithTenantID(req.TenantID))
	}
	res, err := st.client.MSAL().AcquireTokenByAuthCode(ctx, code, redirectURI, scopes, opts...)
	if err != nil {
		err = publicclient.Classify(flowName, err)
		return sdk.Token{}, failurePage(err), err
	}
	tok := st.client.SignedIn(ctx, res)
	who := "."
	if tok.Account.Username != "" {
		who = " as " + tok.Account.Username + "."
	}
	return tok, page{status: http.StatusOK, title: "Signed in",
		message: "You are signed in to credhost" + who + " You can close this window and return to your terminal."}, nil
}

// failurePage says in plain words why the sign-in failed.
func failurePage(err error) page {
	why, hint := err.Error(), ""
	var e *sdk.Error
	if errors.As(err, &e) && e.Err != nil {
		why, hint = e.Err.Error(), e.Hint
	}
	return page{status: http.StatusOK, title: "Sign-in failed", hint: hint,
		message: "credhost could not sign you in: " + strings.TrimSuffix(why, ".") + ". Return to your terminal for details."}
}

// timeoutError explains a wait that ran out, mentioning refused responses
// since they may be why.
func (st *state) timeoutError(l *listener) error {
	msg := fmt.Sprintf("no sign-in response arrived within %s", st.timeout)
	if n := l.refused.Load(); n > 0 {
		msg += fmt.Sprintf(" (%d response(s) with a wrong or missing state were refused)", n)
	}
	return &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: errors.New(msg),
		Hint: "run the command again and finish signing in in the browser window it opens, or raise the timeout option"}
}

// withOIDC returns scopes plus the OpenID Connect scopes MSAL asks for
// when it redeems the code, so the authorization covers them too.
func withOIDC(scopes []string) []string {
	out := slices.Clone(scopes)
	for _, s := range oidcScopes {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// newPKCE returns a PKCE code verifier (RFC 7636: 32 random bytes,
// base64url) and its S256 challenge.
func newPKCE() (verifier, challenge string) {
	verifier = randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomString returns n random bytes, base64url without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b)
}

// Interface guards.
var _ sdk.Flow = (*flow)(nil)
