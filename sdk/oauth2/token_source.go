// Package oauth2 makes a credhost Credential usable with
// golang.org/x/oauth2: TokenSource returns an oauth2.TokenSource for fixed
// scopes, which oauth2.NewClient, oauth2.Transport and the many libraries
// that take a TokenSource accept.
//
// The returned source asks the Credential on every Token call. It does not
// wrap itself in oauth2.ReuseTokenSource, because credhost already caches:
// an *sdk.Client answers repeated requests from its in-process cache and
// refreshes ahead of expiry (at the token's refresh time or its minimum
// lifetime), which a second cache in front of it would only delay.
// oauth2.NewClient adds a ReuseTokenSource of its own; that is harmless.
package oauth2

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/oauth2"

	"github.com/credhost/credhost/sdk"
)

// TokenSource returns an oauth2.TokenSource that gets tokens for scopes
// from c, under ctx: oauth2.TokenSource.Token takes no context, so every
// call uses this one, and its cancellation fails later calls. Pass a
// context that lives as long as the source is used (as with
// clientcredentials.Config.TokenSource).
//
// The source is safe for concurrent use if c is (an *sdk.Client is); the
// scopes are copied. A nil c panics here rather than on the first request.
// Token returns *oauth2.Token{AccessToken, TokenType, Expiry} and no
// refresh token; errors wrap the Credential's error, so core.KindOf and
// errors.As with an *sdk.Error keep working.
func TokenSource(ctx context.Context, c sdk.Credential, scopes ...string) oauth2.TokenSource {
	if c == nil {
		panic("oauth2: TokenSource: the credential is nil")
	}
	return &tokenSource{ctx: ctx, cred: c, scopes: slices.Clone(scopes)}
}

type tokenSource struct {
	ctx    context.Context
	cred   sdk.Credential
	scopes []string
}

// Token implements oauth2.TokenSource.
func (s *tokenSource) Token() (*oauth2.Token, error) {
	// The Credential may keep the request's slice (a cache key); each call
	// gets its own so concurrent calls share nothing mutable.
	tok, err := s.cred.GetToken(s.ctx, sdk.TokenRequest{Scopes: slices.Clone(s.scopes)})
	if err != nil {
		return nil, fmt.Errorf("oauth2: credhost: %w", err)
	}
	typ := tok.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	return &oauth2.Token{AccessToken: tok.AccessToken.Reveal(), TokenType: typ, Expiry: tok.ExpiresOn}, nil
}

// Interface guards.
var _ oauth2.TokenSource = (*tokenSource)(nil)
