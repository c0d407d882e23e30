package main

import (
	"container/list"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/internal/blobmerge"
	"github.com/credhost/credhost/internal/clientauth"
	"github.com/credhost/credhost/internal/msalcache"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/jwtpeek"
	"github.com/credhost/credhost/sdk/msalerr"
)

// The web-app mode (mode = "webapp") is the authorization code flow of a
// confidential client, a web app that signs its users in with its own
// sign-in and callback pages (sdk/webapp): the browser never comes near
// this process. A GetToken does one of two things:
//
//   - redeem: TokenRequest.AuthorizationCode carries a code (plugin
//     protocol 3; sdk/webapp.CredentialRedeemer sets it). The code is redeemed
//     with the app's client credential, the PKCE verifier and the redirect
//     URI, the ID token's nonce is checked, and the user's tokens (refresh
//     token included) are saved in the host's cache. That is the only
//     purpose of redeeming: every later token for the user comes from
//     there.
//   - silent: Account names a user by home account id; the token comes
//     from that user's cached access token, else their refresh token,
//     with no user present.
//
// Each user's MSAL cache is a host Cache partition of its own, whose
// sub-key is the home account id: a web app serves many users, and one
// blob for all of them would grow without bound and be rewritten by every
// sign-in of the farm.

// Hints of the web-app mode: the web app, not a person at a terminal,
// must act.
const (
	hintCodeUsed = "authorization codes are single-use and this one was already redeemed: do not retry the redemption; " +
		"send the user through a new sign-in for a new code (if the first redemption succeeded, the user's tokens are cached: " +
		"ask for them with TokenRequest.Account = the home account id)"
	hintCodeExpired   = "the authorization code expired (codes live about 10 minutes): send the user through a new sign-in"
	hintRedirectURI   = "the redemption's redirect URI must be exactly the one of the authorization request, and registered on the app (scheme, host, port, path); check the web app's RedirectURI"
	hintPKCE          = "the PKCE code_verifier does not match the authorization request's code_challenge: redeem with the verifier of the same sign-in, then start a new one"
	hintSignInAgain   = "send the user through sign-in again (sdk/webapp SignIn.Start); the redemption will cache their tokens"
	hintAccountNeeded = "a web app asks for a signed-in user's tokens with TokenRequest.Account = the home account id the sign-in returned (sdk/webapp Result.Account.HomeAccountID), or redeems a code with TokenRequest.AuthorizationCode (sdk/webapp.CredentialRedeemer)"
)

// redeemHints replace core's table for failures of a code redemption.
var redeemHints = map[int]string{
	54005:  hintCodeUsed,
	70002:  hintCodeUsed,
	70008:  hintCodeExpired,
	70000:  hintRedirectURI,
	500112: hintRedirectURI,
	50011:  hintRedirectURI,
	50148:  hintPKCE,
}

// maxUserClients bounds the MSAL clients kept for silent calls, one per
// user (see userClients). A user beyond it costs one tenant discovery
// request when they come back; their tokens stay in the host's cache.
const maxUserClients = 1024

// saveRetries bounds reload-and-merge rounds when another process of the
// farm saved the same user's partition at the same time.
const saveRetries = 8

// webApp is the state of one Configure in web-app mode. It is immutable
// but for users, which locks itself.
type webApp struct {
	cfg   sdk.FlowConfig
	cred  confidential.Credential
	http  *http.Client
	mem   *sdk.MemoryCache // the store when the host keeps no state
	users *userClients
}

func newWebApp(cfg sdk.FlowConfig, cred confidential.Credential, hc *http.Client) *webApp {
	w := &webApp{cfg: cfg, cred: cred, http: hc, mem: &sdk.MemoryCache{}}
	w.users = &userClients{max: maxUserClients, build: w.userClient, m: map[string]*list.Element{}, order: list.New()}
	return w
}

// getToken serves one GetToken in web-app mode.
func (w *webApp) getToken(ctx context.Context, req sdk.TokenRequest, host sdk.Services) (sdk.Token, error) {
	var store sdk.Cache = w.mem
	if host.Cache != nil {
		store = host.Cache
	}
	scopes := req.NormalizedScopes()
	if len(scopes) == 0 {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: errors.New("no scopes requested"),
			Hint: "ask for a resource scope, e.g. https://graph.microsoft.com/User.Read"}
	}
	if !req.UserAssertion.IsZero() {
		// Hosts before plugin protocol 3 sent a code here, as JSON.
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: errors.New("web-app mode takes no user assertion"),
			Hint: "a code comes in TokenRequest.AuthorizationCode (sdk/webapp.CredentialRedeemer), which a host of plugin protocol 3 or newer sends: upgrade credhost; for on-behalf-of use the obo flow"}
	}
	if c := req.AuthorizationCode; !c.IsZero() {
		if !req.ForceRefresh {
			// The host's token cache answers requests without it, and a
			// replayed code must reach the IdP, which refuses it.
			return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName,
				Err:  errors.New("a code redemption must set TokenRequest.ForceRefresh"),
				Hint: "use sdk/webapp.CredentialRedeemer, which sets it, so that no cache ever answers for a code"}
		}
		return w.redeem(ctx, req, scopes, c, store)
	}
	return w.silent(ctx, req, scopes, store)
}

// redeem redeems c and saves the user's tokens in their partition.
func (w *webApp) redeem(ctx context.Context, req sdk.TokenRequest, scopes []string, c sdk.AuthorizationCode, store sdk.Cache) (sdk.Token, error) {
	log := zerolog.Ctx(ctx)
	// A client of its own: its cache then holds this user's tokens only,
	// which are exported to the user's partition once the home account id
	// is known (the response tells it).
	capture := &captureCache{}
	client, err := clientauth.NewClient(w.cfg, w.cred, w.http, capture)
	if err != nil {
		return sdk.Token{}, msalerr.Classify(flowName, err)
	}
	var opts []confidential.AcquireByAuthCodeOption
	if v := c.Verifier.Reveal(); v != "" {
		opts = append(opts, confidential.WithChallenge(v))
	}
	if req.Claims != "" {
		opts = append(opts, confidential.WithClaims(req.Claims))
	}
	if req.TenantID != "" {
		opts = append(opts, confidential.WithTenantID(req.TenantID))
	}
	start := time.Now()
	res, err := client.AcquireTokenByAuthCode(ctx, c.Code.Reveal(), c.RedirectURI, scopes, opts...)
	if err != nil {
		err = classifyRedeem(err)
		log.Debug().Str("flow", flowName).Str("kind", sdk.KindOf(err).String()).Int("aadsts", codeOf(err)).Msg("code redemption failed")
		return sdk.Token{}, err
	}
	// MSAL does not check the nonce; without this an ID token (and so an
	// account) from another sign-in could be passed off as this one's.
	if c.Nonce != "" && subtle.ConstantTimeCompare([]byte(idTokenNonce(res.IDToken.RawToken)), []byte(c.Nonce)) != 1 {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName,
			Err:  errors.New("the ID token's nonce does not match the sign-in's; nothing was cached"),
			Hint: "redeem a code with the nonce of the authorization request that produced it; start a new sign-in"}
	}
	home := res.Account.HomeAccountID
	if err := checkHomeAccountID(home); err != nil {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: fmt.Errorf("the token response names no usable account: %w", err),
			Hint: "the sign-in must ask for the openid and profile scopes (sdk/webapp does)"}
	}
	blob := capture.get()
	if blob == nil {
		return sdk.Token{}, sdk.Failed(flowName, "MSAL kept no cache of the redemption")
	}
	if err := saveMerged(ctx, store, home, blob); err != nil {
		if ctx.Err() != nil {
			return sdk.Token{}, msalerr.Classify(flowName, ctx.Err())
		}
		// The code is spent, so a token without cached state would leave
		// the app with a user whose next call fails: say so now.
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName,
			Err:  fmt.Errorf("the user's tokens could not be saved in the host's cache: %w", err),
			Hint: "check the [cache] backend (Redis reachable?), then send the user through a new sign-in"}
	}
	// For `credhost accounts`; the tokens are saved, so a failure here
	// costs only the listing.
	if err := msalcache.RecordSignIn(msalcache.WithStore(ctx, store), home); err != nil {
		log.Warn().Str("flow", flowName).Str("error", err.Error()).Msg("cannot record the sign-in")
	}
	log.Debug().Str("flow", flowName).Str("client_id", w.cfg.ClientID).Strs("scopes", scopes).
		Int64("duration_ms", time.Since(start).Milliseconds()).Msg("code redeemed; the user's tokens are cached")
	return w.token(res), nil
}

// silent answers for the user req.Account names, from their partition.
func (w *webApp) silent(ctx context.Context, req sdk.TokenRequest, scopes []string, store sdk.Cache) (sdk.Token, error) {
	home := strings.TrimSpace(req.Account)
	if home == "" {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName,
			Err: errors.New("web-app mode needs a user: no account and no code in the request"), Hint: hintAccountNeeded}
	}
	if err := checkHomeAccountID(home); err != nil {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: fmt.Errorf("account: %w", err), Hint: hintAccountNeeded}
	}
	if req.Claims != "" {
		// MSAL's confidential client refuses claims on silent calls, and
		// a refresh token cannot satisfy a claims challenge anyway: the
		// user must sign in again with these claims.
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindInteractionRequired, Flow: flowName, Claims: req.Claims,
			Err:  errors.New("a claims challenge needs a new sign-in"),
			Hint: "send the user through sign-in again with these claims in the authorization request"}
	}
	client, err := w.users.get(home)
	if err != nil {
		return sdk.Token{}, msalerr.Classify(flowName, err)
	}
	ctx = msalcache.WithStore(ctx, store)
	if req.ForceRefresh {
		ctx = msalcache.WithoutAccessTokens(ctx, w.cfg.ClientID, scopes)
	}
	acct, err := client.Account(ctx, home)
	if err != nil {
		return sdk.Token{}, msalerr.Classify(flowName, err)
	}
	if acct.HomeAccountID == "" {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindInteractionRequired, Flow: flowName,
			Err: errors.New("no sign-in of this account is cached (never signed in with this profile, or the cache dropped it)"), Hint: hintSignInAgain}
	}
	opts := []confidential.AcquireSilentOption{confidential.WithSilentAccount(acct)}
	if req.TenantID != "" {
		opts = append(opts, confidential.WithTenantID(req.TenantID))
	}
	res, err := client.AcquireTokenSilent(ctx, scopes, opts...)
	if err != nil {
		return sdk.Token{}, classifySilent(ctx, err)
	}
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Strs("scopes", scopes).
		Bool("cache", res.Metadata.TokenSource == confidential.TokenSourceCache).Msg("silent token")
	return w.token(res), nil
}

func (w *webApp) token(res confidential.AuthResult) sdk.Token {
	tenant := res.IDToken.TenantID
	if tenant == "" {
		tenant = res.Account.Realm
	}
	return sdk.Token{
		AccessToken: sdk.NewSecret(res.AccessToken),
		TokenType:   "Bearer",
		ExpiresOn:   res.ExpiresOn,
		RefreshOn:   res.Metadata.RefreshOn,
		Account:     sdk.Account{HomeAccountID: res.Account.HomeAccountID, Username: res.Account.PreferredUsername, TenantID: tenant},
		Flow:        flowName,
	}
}

// userClient builds the MSAL client of one user: its cache is that user's
// partition. One client per user because MSAL Go loads a partition into
// a client's single in-memory cache and reads it after releasing its
// lock: two users' calls on one client could each read the other's
// blob.
func (w *webApp) userClient(home string) (*confidential.Client, error) {
	c, err := clientauth.NewClient(w.cfg, w.cred, w.http, msalcache.New(nil, home, nil))
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// classifyRedeem classifies a failed redemption with hints for a web app.
func classifyRedeem(err error) error {
	err = msalerr.Classify(flowName, err)
	var e *sdk.Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	switch h, ok := redeemHints[c.Code]; {
	case ok:
		c.Hint = h
	case c.Kind == sdk.KindInteractionRequired:
		c.Hint = "the sign-in did not meet the tenant's requirements (multi-factor authentication, conditional access): " + hintSignInAgain
	}
	return &c
}

// classifySilent classifies a failed silent call: when the user must sign
// in again (no refresh token cached, or the IdP refused it) it is
// KindInteractionRequired, so the web app sends them to its sign-in;
// network and server failures stay KindFailed, since a sign-in would not
// help.
func classifySilent(ctx context.Context, err error) error {
	classified := msalerr.Classify(flowName, err)
	var e *sdk.Error
	if !errors.As(classified, &e) || ctx.Err() != nil {
		return classified
	}
	c := *e
	var call msalerrors.CallErr
	var ue *url.Error
	switch {
	case c.Kind == sdk.KindInteractionRequired:
	case errors.As(err, &call):
		if c.OAuthCode != "invalid_grant" {
			return classified
		}
		c.Kind = sdk.KindInteractionRequired
	case errors.As(err, &ue) || c.Hint == msalerr.HintNetwork || c.Hint == msalerr.HintTLS:
		return classified
	default:
		// MSAL's own "no token found": nothing usable in the partition.
		c.Kind = sdk.KindInteractionRequired
		c.Err = errors.New("the cached sign-in of this account has no usable token")
	}
	c.Hint = hintSignInAgain
	return &c
}

func codeOf(err error) int {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// checkHomeAccountID accepts what Entra ID's home account ids look like
// ("<object id>.<tenant id>"): the id becomes a cache key, so a username
// or anything with the key separator "|" is refused rather than stored.
func checkHomeAccountID(id string) error {
	switch {
	case id == "":
		return errors.New("no home account id")
	case strings.Contains(id, "@"):
		return errors.New("a username is not a home account id; web-app mode finds users by home account id")
	case len(id) > 256:
		return errors.New("too long for a home account id")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return errors.New("not a home account id (letters, digits, '.', '-', '_')")
		}
	}
	return nil
}

// saveMerged merges blob (the MSAL cache of one redemption) into key's
// stored MSAL cache: the user's other tokens (other scopes, an earlier
// sign-in) stay, the new ones win. A writer that got there first is
// merged with, not overwritten.
func saveMerged(ctx context.Context, store sdk.Cache, key string, blob []byte) error {
	for attempt := 0; ; attempt++ {
		cur, err := store.Load(ctx, key)
		if err != nil {
			return err
		}
		data, err := blobmerge.Merge(cur.Data, blob)
		if err != nil {
			return err
		}
		_, err = store.Save(ctx, key, sdk.Blob{Data: data, Version: cur.Version})
		if !errors.Is(err, sdk.ErrCacheConflict) || attempt >= saveRetries {
			return err
		}
	}
}

// idTokenNonce reads the nonce claim of an ID token MSAL received over
// TLS from the token endpoint (so its signature need not be checked
// here); "" if it has none.
func idTokenNonce(raw string) string {
	var c struct {
		Nonce string `json:"nonce"`
	}
	_ = jwtpeek.Claims(raw, &c)
	return c.Nonce
}

// captureCache is the MSAL cache of a redemption's own client: it starts
// empty and keeps what MSAL exports after the redemption.
type captureCache struct {
	mu   sync.Mutex
	data []byte
}

func (c *captureCache) Replace(context.Context, cache.Unmarshaler, cache.ReplaceHints) error {
	return nil // a new client's cache is empty
}

func (c *captureCache) Export(_ context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.data = data
	c.mu.Unlock()
	return nil
}

func (c *captureCache) get() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data
}

// userClients keeps the MSAL clients of the users seen most recently, up
// to max. It is safe for concurrent use.
type userClients struct {
	max   int
	build func(home string) (*confidential.Client, error)

	mu    sync.Mutex
	m     map[string]*list.Element // of *userClient
	order *list.List               // most recently used first
}

type userClient struct {
	home   string
	client *confidential.Client
}

// get returns home's client, building it on first use (no network I/O:
// MSAL discovers the tenant on the client's first request).
func (u *userClients) get(home string) (*confidential.Client, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if el, ok := u.m[home]; ok {
		u.order.MoveToFront(el)
		return el.Value.(*userClient).client, nil
	}
	c, err := u.build(home)
	if err != nil {
		return nil, err
	}
	u.m[home] = u.order.PushFront(&userClient{home: home, client: c})
	for u.order.Len() > u.max {
		last := u.order.Back()
		u.order.Remove(last)
		delete(u.m, last.Value.(*userClient).home)
	}
	return c, nil
}

// len is the number of clients kept, for tests.
func (u *userClients) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.order.Len()
}

// Interface guards.
var _ cache.ExportReplace = (*captureCache)(nil)
