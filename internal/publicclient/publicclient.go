// Package publicclient is what the flows that sign a user in (devicecode,
// authcode's interactive mode) share: the MSAL public client over the
// host's cache, the silent path (a cached access token, else the refresh
// token) with account selection, authority rules, and the conversion of
// MSAL results and errors into core values.
//
// Each flow keeps its interactive step (polling a device code, driving a
// browser) to itself; once that step has a token, MSAL has already stored
// it in the host's cache, so the next call is silent.
package publicclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/authority"
	"github.com/credhost/credhost/internal/clientauth"
	"github.com/credhost/credhost/internal/msalcache"
)

// OptLoginHint is the option naming the account to use, shared by every
// public-client flow.
const OptLoginHint = "login_hint"

// LoginHintOption describes OptLoginHint.
func LoginHintOption() core.OptionSpec {
	return core.OptionSpec{Name: OptLoginHint,
		Help: "username (user@domain) to sign in as; also picks that account from the cache when several have signed in"}
}

// NoUIHint is the hint of a sign-in that nobody can answer: kubectl
// (interactiveMode Never, or no terminal), git without a terminal or with
// GIT_TERMINAL_PROMPT=0, and --no-prompt run credhost non-interactively,
// so the person signs in once where they can, and later calls are silent.
func NoUIHint(profile string) string {
	return fmt.Sprintf("this call runs non-interactively (kubectl, git without a terminal, --no-prompt): sign in once from a terminal with `credhost login --profile %s`; later calls are silent", profile)
}

// cacheKey is the one cache partition of a public-client flow: the host
// already scopes it to the profile, flow, authority and client.
const cacheKey = ""

// Client is the MSAL public client of one flow configuration. It is safe
// for concurrent use.
type Client struct {
	flow     string
	clientID string
	app      public.Client
}

// New returns the public client for cfg: its authority and client id,
// httpClient for every request (nil means MSAL's default) and the host's
// cache through msalcache; each call brings the cache of its own GetToken
// in its context (WithCache). Instance discovery runs only for Microsoft
// cloud hosts. New does no network I/O.
func New(flow string, cfg core.FlowConfig, httpClient *http.Client) (*Client, error) {
	opts := []public.Option{
		public.WithAuthority(cfg.Authority),
		public.WithInstanceDiscovery(clientauth.InstanceDiscovery(cfg.Authority)),
		public.WithCache(msalcache.New(nil, cacheKey, nil)),
	}
	if httpClient != nil {
		opts = append(opts, public.WithHTTPClient(httpClient))
	}
	app, err := public.New(cfg.ClientID, opts...)
	if err != nil {
		return nil, core.Failed(flow, "build the MSAL client: %v", err)
	}
	return &Client{flow: flow, clientID: cfg.ClientID, app: app}, nil
}

// MSAL returns the MSAL client, for the flow's interactive step. Call it
// with a context from WithCache so that its result is cached.
func (c *Client) MSAL() public.Client { return c.app }

// WithCache returns ctx for the MSAL calls of one GetToken: they read and
// write cache (the host's Services.Cache of that call). A nil cache leaves
// MSAL's in-memory cache, good for the life of the plugin process.
func WithCache(ctx context.Context, cache core.Cache) context.Context {
	return msalcache.WithStore(ctx, cache)
}

// Scopes returns req's scopes, normalized, or a failure if there are none.
func Scopes(flow string, req core.TokenRequest) ([]string, error) {
	scopes := req.NormalizedScopes()
	if len(scopes) == 0 {
		return nil, &core.Error{Kind: core.KindFailed, Flow: flow, Err: errors.New("no scopes requested"),
			Hint: "ask for a resource scope, e.g. https://graph.microsoft.com/.default or https://graph.microsoft.com/User.Read"}
	}
	return scopes, nil
}

// SignedIn converts the result of a successful sign-in (silent or
// interactive, ctx from WithCache) into a core.Token and records who is
// signed in for the host (msalcache.RecordSignIn). A record that cannot be
// saved is logged: the token is good all the same, and the next sign-in
// records again.
func (c *Client) SignedIn(ctx context.Context, res public.AuthResult) core.Token {
	if err := msalcache.RecordSignIn(ctx, cacheKey); err != nil {
		zerolog.Ctx(ctx).Warn().Str("flow", c.flow).Str("error", err.Error()).Msg("cannot record the sign-in; `credhost accounts` may not list it")
	}
	return c.Token(res)
}

// Token converts an MSAL result into a core.Token of the client's flow.
func (c *Client) Token(res public.AuthResult) core.Token {
	tenant := res.IDToken.TenantID
	if tenant == "" {
		tenant = res.Account.Realm
	}
	return core.Token{
		AccessToken: core.NewSecret(res.AccessToken),
		TokenType:   "Bearer",
		ExpiresOn:   res.ExpiresOn,
		RefreshOn:   res.Metadata.RefreshOn,
		Account: core.Account{
			HomeAccountID: res.Account.HomeAccountID,
			Username:      res.Account.PreferredUsername,
			TenantID:      tenant,
		},
		Flow: c.flow,
	}
}

// CheckAuthority adds to ce the problems with cfg's client id and
// authority, including a tenant the flow cannot use (forbidden, lower
// case), naming the rule.
func CheckAuthority(flow string, cfg core.FlowConfig, forbidden []string, ce *core.ConfigError) {
	clientauth.CheckCommon(cfg, ce)
	if err := CheckTenant(flow, authority.Tenant(cfg.Authority), forbidden); err != nil {
		var e *core.Error
		if errors.As(err, &e) {
			ce.Add("authority", "%v (%s)", e.Err, e.Hint)
		}
	}
}

// CheckTenant returns a failure naming the rule if tenant (an authority's
// tenant or a request's override) is one the flow cannot use, else nil.
func CheckTenant(flow, tenant string, forbidden []string) error {
	t := strings.ToLower(strings.TrimSpace(tenant))
	if t == "" || !slices.Contains(forbidden, t) {
		return nil
	}
	return &core.Error{Kind: core.KindFailed, Flow: flow,
		Err: errors.New(flow + " cannot use the \"" + t + "\" tenant"),
		Hint: "rule: " + flow + " needs an authority naming one tenant (tenant id or domain) or \"organizations\"; " +
			strings.Join(quoted(forbidden), " and ") + " are not allowed"}
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = `"` + s + `"`
	}
	return out
}
