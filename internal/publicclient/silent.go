package publicclient

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/msalcache"
	"github.com/credhost/credhost/sdk/msalerr"
)

// ErrInteractionNeeded is wrapped by the errors of Silent that mean the
// user must sign in interactively: no account in the cache, no usable
// refresh token, or the identity provider refused the refresh token
// (expired, revoked, multi-factor authentication now required). When the
// provider said so, the error also wraps its classified *core.Error, whose
// Claims the interactive sign-in must send (see Claims).
var ErrInteractionNeeded = errors.New("interactive sign-in needed")

// interactionNeeded is Silent's error when the user must sign in.
type interactionNeeded struct {
	reason string
	cause  error // the classified IdP error, or nil
}

func (e *interactionNeeded) Error() string {
	if e.cause != nil {
		return e.reason + ": " + e.cause.Error()
	}
	return e.reason
}

func (e *interactionNeeded) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrInteractionNeeded}
	}
	return []error{ErrInteractionNeeded, e.cause}
}

// Silent returns a token for req without the user: MSAL's cached access
// token if it still covers scopes, else one from the refresh token. The
// account is the one named by req.Account or loginHint (username or home
// account id), else the only one cached, else the first by username.
// req.ForceRefresh hides the cached access token, so the refresh token is
// used; req.Claims and req.TenantID are passed on. The cache of the call
// must be in ctx (WithCache).
//
// An error wrapping ErrInteractionNeeded means "sign the user in"; any
// other error (network, cancellation, a refusal of the app) is final.
func (c *Client) Silent(ctx context.Context, req core.TokenRequest, scopes []string, loginHint string) (core.Token, error) {
	accounts, err := c.app.Accounts(ctx)
	if err != nil {
		return core.Token{}, msalerr.Classify(c.flow, err)
	}
	acct, ok := pickAccount(accounts, req.Account, loginHint)
	if !ok {
		return core.Token{}, &interactionNeeded{reason: "no signed-in account in the cache"}
	}
	opts := []public.AcquireSilentOption{public.WithSilentAccount(acct)}
	if req.Claims != "" {
		opts = append(opts, public.WithClaims(req.Claims))
	}
	if req.TenantID != "" {
		opts = append(opts, public.WithTenantID(req.TenantID))
	}
	if req.ForceRefresh {
		ctx = msalcache.WithoutAccessTokens(ctx, c.clientID, scopes)
	}
	res, err := c.app.AcquireTokenSilent(ctx, scopes, opts...)
	if err == nil {
		zerolog.Ctx(ctx).Debug().Str("flow", c.flow).Strs("scopes", scopes).
			Bool("cache", res.Metadata.TokenSource == public.TokenSourceCache).Msg("silent token")
		return c.SignedIn(ctx, res), nil
	}
	classified := msalerr.Classify(c.flow, err)
	if ctx.Err() != nil || !needsUser(err, classified) {
		return core.Token{}, classified
	}
	reason := "the cached sign-in of " + acct.PreferredUsername + " cannot be refreshed"
	var call msalerrors.CallErr
	if !errors.As(err, &call) {
		// MSAL found no refresh token for the account (a cache miss): not
		// an IdP answer, nothing to pass on.
		return core.Token{}, &interactionNeeded{reason: reason}
	}
	return core.Token{}, &interactionNeeded{reason: reason, cause: classified}
}

// needsUser reports whether a silent failure calls for an interactive
// sign-in: an IdP answer that the user must act on or that refuses the
// refresh token, or a cache miss. Network, TLS and server failures are
// not: a sign-in would not help.
func needsUser(raw, classified error) bool {
	var e *core.Error
	if !errors.As(classified, &e) {
		return false
	}
	if e.Kind == core.KindInteractionRequired {
		return true
	}
	var call msalerrors.CallErr
	if errors.As(raw, &call) {
		return e.OAuthCode == "invalid_grant"
	}
	var ue *url.Error
	if errors.As(raw, &ue) || e.Hint == msalerr.HintNetwork || e.Hint == msalerr.HintTLS {
		return false
	}
	// MSAL's own "no token found": the account has no refresh token.
	return true
}

// pickAccount chooses the cached account to use silently.
func pickAccount(accounts []public.Account, hints ...string) (public.Account, bool) {
	for _, h := range hints {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		for _, a := range accounts {
			if strings.EqualFold(a.PreferredUsername, h) || a.HomeAccountID == h {
				return a, true
			}
		}
		// A hint that names nobody cached: that user must sign in.
		return public.Account{}, false
	}
	if len(accounts) == 0 {
		return public.Account{}, false
	}
	sorted := slices.Clone(accounts)
	slices.SortFunc(sorted, func(a, b public.Account) int {
		return strings.Compare(strings.ToLower(a.PreferredUsername), strings.ToLower(b.PreferredUsername))
	})
	return sorted[0], true
}

// Claims returns the claims challenge an interactive sign-in must send for
// req after silentErr: the request's own, else the one the IdP gave when
// it refused the refresh token.
func Claims(req core.TokenRequest, silentErr error) string {
	if req.Claims != "" {
		return req.Claims
	}
	var e *core.Error
	if errors.As(silentErr, &e) {
		return e.Claims
	}
	return ""
}

// Classify classifies an error of a flow's interactive step (device code
// polling, code redemption). Beyond msalerr.Classify, an
// interaction-required answer to a sign-in that just happened gets a hint
// for the person signing in: another flow would not help.
func Classify(flow string, err error) error {
	classified := msalerr.Classify(flow, err)
	var e *core.Error
	if errors.As(classified, &e) {
		SignInHint(e)
	}
	return classified
}

// SignInHint rewrites the hint of an interaction-required error that an
// interactive sign-in received.
func SignInHint(e *core.Error) {
	if e == nil || e.Kind != core.KindInteractionRequired {
		return
	}
	// The table's hint ("...; use an interactive flow") is for
	// non-interactive flows: keep only what it says is missing.
	why, _, _ := strings.Cut(e.Hint, ";")
	if why == "" {
		why = "the identity provider wants more from the user"
	}
	e.Hint = "the sign-in did not meet the tenant's requirements (" + why +
		"); complete every step the sign-in page asks for, such as multi-factor authentication, or ask an administrator about conditional access"
}
