package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/internal/clientauth"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/msalerr"
)

// Flow identity.
const (
	flowName    = "obo"
	flowVersion = "0.1.0"
)

// Hints for the on-behalf-of failures core's AADSTS table does not know
// or describes for interactive clients. The web API cannot prompt anyone:
// its caller must act.
const (
	hintNoAssertion = "pass the bearer token of the incoming request as TokenRequest.UserAssertion (sdk/webapp.API does this)"
	hintInteraction = "the user must satisfy a conditional access or MFA challenge: answer the caller with 401 and the claims challenge " +
		"in WWW-Authenticate (sdk/webapp.WriteChallenge) so that it signs the user in again with these claims"
)

var oboHints = map[int]string{
	500133: "the caller's access token (the assertion) expired: answer 401 invalid_token so that the client gets a new token and calls again",
	500131: "the caller's access token was issued for another audience: the client must request a token for this API (its client id or api://<client id>)",
	50013:  "the assertion is not a user access token issued by this tenant for this API (signature, issuer, tenant, or an app-only token): pass the caller's bearer token unchanged",
	50027:  "the assertion is not a well-formed JWT: pass the caller's bearer token unchanged",
	50034:  "the caller's user does not exist in this tenant: check the authority's tenant or pass the caller's tenant in TokenRequest.TenantID",
}

// newFlow returns the on-behalf-of flow, unconfigured.
func newFlow() sdk.Flow { return &flow{now: time.Now} }

// flow is the OAuth 2.0 on-behalf-of grant (jwt-bearer with
// requested_token_use=on_behalf_of) with any client authentication
// clientauth supports. Downstream tokens are cached per assertion (see
// cache.go). It is safe for concurrent use: Configure swaps an immutable
// state; GetToken works on a snapshot.
type flow struct {
	now func() time.Time

	mu    sync.Mutex
	state *state // nil until Configure succeeds
}

// state is one successful Configure: the settings, the credential, the
// MSAL client built on first use, and the cache used when the host keeps
// none.
type state struct {
	cfg  sdk.FlowConfig
	cred confidential.Credential
	http *http.Client
	mem  *memCache

	once   sync.Mutex
	client *confidential.Client
	uses   int // acquisitions by client
}

// Describe implements sdk.Flow. The options are clientauth's, exactly as
// for client credentials: the web API authenticates as itself.
func (f *flow) Describe() sdk.Description {
	return sdk.Description{
		Name:             flowName,
		Version:          flowVersion,
		Interactive:      false,
		Options:          clientauth.Options(),
		ForbiddenTenants: slices.Clone(clientauth.MultiTenants),
	}
}

// Configure implements sdk.Flow: it checks the authority, client id and
// client authentication, and builds the HTTP client, without network I/O.
// On error the previous configuration (if any) stays in force.
func (f *flow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	cred, hc, err := clientauth.Setup(flowName, "on-behalf-of", cfg)
	if err != nil {
		return err
	}
	st := &state{cfg: cfg, cred: cred, http: hc, mem: &memCache{}}
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("client_id", cfg.ClientID).Msg("configured")
	return nil
}

// GetToken implements sdk.Flow: it exchanges req.UserAssertion for a
// token for req.Scopes. A downstream token cached for the same assertion
// is returned while it has lifetime left, unless req.ForceRefresh or
// req.Claims asks for a new one or the assertion itself has expired.
// Errors are *sdk.Error; an unconfigured flow is Unavailable.
func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, host sdk.Services) (sdk.Token, error) {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Token{}, clientauth.NotConfigured(flowName)
	}
	assertion := strings.TrimSpace(req.UserAssertion.Reveal())
	if assertion == "" {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName,
			Err: errors.New("obo needs the caller's access token"), Hint: hintNoAssertion}
	}
	scopes := req.NormalizedScopes()
	if len(scopes) == 0 {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName,
			Err:  errors.New("no scopes requested"),
			Hint: "name the downstream API's scopes, e.g. https://graph.microsoft.com/User.Read"}
	}
	var store sdk.Cache = st.mem
	if host.Cache != nil {
		store = host.Cache
	}
	key := assertionKey(assertion)
	// The fingerprint lets logs of the API and of credhost be matched up
	// without the assertion.
	log := zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("tenant", req.TenantID).Strs("scopes", scopes).Str("assertion", key[:12])
	now := f.now()
	// An expired assertion goes to the IdP, past every cache, and the IdP
	// says so (AADSTS500133): a cached token must not outlive the
	// caller's proof of who they are.
	expired := assertionExpired(assertion, now)
	if !req.ForceRefresh && req.Claims == "" && !expired {
		if tok, ok := lookup(ctx, store, key, scopes, req.TenantID, now); ok {
			log.Bool("cache", true).Msg("token acquired")
			return tok, nil
		}
	}

	client, err := st.msal(req.ForceRefresh || expired)
	if err != nil {
		return sdk.Token{}, classify(err)
	}
	var opts []confidential.AcquireOnBehalfOfOption
	if req.Claims != "" {
		opts = append(opts, confidential.WithClaims(req.Claims))
	}
	if req.TenantID != "" {
		opts = append(opts, confidential.WithTenantID(req.TenantID))
	}
	start := time.Now()
	res, err := client.AcquireTokenOnBehalfOf(ctx, assertion, scopes, opts...)
	if err != nil {
		return sdk.Token{}, classify(err)
	}
	tok := sdk.Token{
		AccessToken: sdk.NewSecret(res.AccessToken),
		TokenType:   "Bearer",
		ExpiresOn:   res.ExpiresOn,
		RefreshOn:   res.Metadata.RefreshOn,
		Account:     sdk.Account{HomeAccountID: res.Account.HomeAccountID, Username: res.Account.PreferredUsername, TenantID: res.Account.Realm},
		Flow:        flowName,
	}
	if err := save(ctx, store, key, scopes, req.TenantID, tok, now); err != nil {
		if ctx.Err() != nil {
			return sdk.Token{}, classify(ctx.Err())
		}
		zerolog.Ctx(ctx).Warn().Str("flow", flowName).Str("error", err.Error()).Msg("obo: could not cache the token; the next call for this assertion asks the IdP again")
	}
	log.Bool("cache", false).Int64("duration_ms", time.Since(start).Milliseconds()).Msg("token acquired")
	return tok, nil
}

// classify turns an MSAL error into a *sdk.Error with a hint for a web
// API: core's table advises interactive flows, but here the caller of
// the API must act.
func classify(err error) error {
	err = msalerr.Classify(flowName, err)
	var e *sdk.Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	switch {
	case c.Kind == sdk.KindInteractionRequired:
		c.Hint = hintInteraction
	case oboHints[c.Code] != "":
		c.Hint = oboHints[c.Code]
	}
	return &c
}

// clientUses is how many acquisitions an MSAL client serves before it is
// replaced. MSAL Go keeps every on-behalf-of token in an in-memory cache
// that nothing prunes; a long-running API that serves many users would
// grow it forever. Replacing the client drops it (and costs one tenant
// discovery request).
const clientUses = 1000

// msal returns an MSAL client: the state's shared one, built on first use
// and replaced every clientUses calls, or with fresh a new one used once,
// for ForceRefresh and expired assertions: MSAL's in-memory cache would
// otherwise answer them.
//
// MSAL's cache cannot be the flow's cache here: in MSAL Go v1.10.1 an
// on-behalf-of acquisition with a cache.ExportReplace fails to load any
// blob into its partitioned cache, and exports the other, unpartitioned
// one. So the MSAL client gets none, and cache.go keeps the tokens.
func (s *state) msal(fresh bool) (*confidential.Client, error) {
	if fresh {
		c, err := clientauth.NewClient(s.cfg, s.cred, s.http, nil)
		return &c, err
	}
	s.once.Lock()
	defer s.once.Unlock()
	if s.client == nil || s.uses >= clientUses {
		c, err := clientauth.NewClient(s.cfg, s.cred, s.http, nil)
		if err != nil {
			return nil, err
		}
		s.client, s.uses = &c, 0
	}
	s.uses++
	return s.client, nil
}

// Interface guards.
var _ sdk.Flow = (*flow)(nil)
