package core

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Credential is the one contract every flow, chain and adapter speaks.
//
// Implementations are safe for concurrent use. The returned Token must not
// be modified by the caller.
type Credential interface {
	GetToken(ctx context.Context, req TokenRequest) (Token, error)
}

// CredentialFunc adapts a function to Credential.
type CredentialFunc func(ctx context.Context, req TokenRequest) (Token, error)

// GetToken calls f.
func (f CredentialFunc) GetToken(ctx context.Context, req TokenRequest) (Token, error) {
	return f(ctx, req)
}

// TokenRequest says what token is wanted.
type TokenRequest struct {
	// Scopes requested, e.g. "https://graph.microsoft.com/.default".
	Scopes []string
	// TenantID overrides the profile's tenant for this request, if the flow
	// supports it.
	TenantID string
	// Claims is a claims challenge (JSON) from a resource or from the IdP.
	// A request with claims never answers from a cache.
	Claims string
	// UserAssertion is the incoming user token for on-behalf-of.
	UserAssertion Secret
	// Account is a hint: a username or home account id to prefer.
	Account string
	// ForceRefresh skips every cache.
	ForceRefresh bool
	// AuthorizationCode is a code to redeem (a web app's sign-in, see
	// sdk/webapp); zero for every other request. A redemption sets
	// ForceRefresh, as no cache may answer for a code.
	AuthorizationCode AuthorizationCode
}

// AuthorizationCode is an OAuth2 authorization code with what its
// redemption needs. Code and Verifier are secrets: they never print.
type AuthorizationCode struct {
	Code Secret
	// Verifier is the PKCE code_verifier, if the authorization request
	// had a code_challenge.
	Verifier Secret
	// RedirectURI is exactly the authorization request's.
	RedirectURI string
	// Nonce is the authorization request's nonce, checked in the ID
	// token; empty if it had none.
	Nonce string
}

// IsZero reports whether c holds no code.
func (c AuthorizationCode) IsZero() bool { return c.Code.IsZero() }

// NormalizedScopes returns the scopes sorted, trimmed and without duplicates
// or empties, for use in cache keys.
func (r TokenRequest) NormalizedScopes() []string {
	out := make([]string, 0, len(r.Scopes))
	for _, s := range r.Scopes {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Token is an access token and what is known about it.
type Token struct {
	AccessToken Secret
	// TokenType is usually "Bearer".
	TokenType string
	ExpiresOn time.Time
	// RefreshOn is when a proactive refresh should happen; zero if unknown.
	RefreshOn time.Time
	Account   Account
	// Flow names the flow that produced the token (e.g. "clientcreds").
	Flow string
}

// Account identifies the signed-in user. It is empty for app-only tokens.
type Account struct {
	HomeAccountID string
	Username      string
	TenantID      string
}

// MaxTokenLifetime caps how long credhost keeps and serves an access
// token, whatever the identity provider's expires_in says (Entra ID
// issues 60 to 90 minutes, 24 hours at most): a token with a ten-year
// expires_in, from a broken or hostile IdP, would otherwise be cached
// and handed out for ten years, past any revocation.
const MaxTokenLifetime = 24 * time.Hour

// CapLifetime returns t with ExpiresOn, and RefreshOn, no later than
// now + MaxTokenLifetime.
func (t Token) CapLifetime(now time.Time) Token {
	limit := now.Add(MaxTokenLifetime)
	if t.ExpiresOn.After(limit) {
		t.ExpiresOn = limit
	}
	if t.RefreshOn.After(t.ExpiresOn) {
		t.RefreshOn = t.ExpiresOn
	}
	return t
}

// ExpiresWithin reports whether the token expires within d of now.
func (t Token) ExpiresWithin(now time.Time, d time.Duration) bool {
	return !t.ExpiresOn.After(now.Add(d))
}
