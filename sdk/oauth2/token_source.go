// Package oauth2 makes a credhost Credential usable with
// golang.org/x/oauth2: TokenSource returns an oauth2.TokenSource for fixed
// scopes, which oauth2.NewClient, oauth2.Transport and the many libraries
// that take a TokenSource accept.
//
// The returned source asks the Credential on every Token call. It does not
// wrap itself in oauth2.ReuseTokenSource, because credhost already caches:
// a *client.Client answers repeated requests from its in-process cache and
// refreshes ahead of expiry (at the token's refresh time or its minimum
// lifetime), which a second cache in front of it would only delay.
// oauth2.NewClient adds a ReuseTokenSource of its own; that is harmless.
//
// Bound adapts a *client.TokenSource (Client.Bind) instead: its hits cost an
// atomic load, and the token is refreshed in the background ahead of
// expiry, so no request waits at the plugin boundary.
package oauth2

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"golang.org/x/oauth2"

	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
)

// TokenSource returns an oauth2.TokenSource that gets tokens for scopes
// from c, under ctx: oauth2.TokenSource.Token takes no context, so every
// call uses this one, and its cancellation fails later calls. Pass a
// context that lives as long as the source is used (as with
// clientcredentials.Config.TokenSource).
//
// The source is safe for concurrent use if c is (a *client.Client is); the
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
	return convert(tok), nil
}

func convert(tok sdk.Token) *oauth2.Token {
	typ := tok.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	return &oauth2.Token{AccessToken: tok.AccessToken.Reveal(), TokenType: typ, Expiry: tok.ExpiresOn}
}

// Bound returns an oauth2.TokenSource over src, a source bound with
// client.Client.Bind. ctx bounds the waits for a token when src holds no
// valid one (the first call, or after refreshes failed until expiry).
//
// While src serves the same token, Token returns the same *oauth2.Token
// (as oauth2.ReuseTokenSource does), so a hit allocates nothing; treat it
// as read-only. Closing src (or its Client) makes Token fail with
// client.ErrClosed.
func Bound(ctx context.Context, src *client.TokenSource) oauth2.TokenSource {
	if src == nil {
		panic("oauth2: Bound: the token source is nil")
	}
	return &boundSource{ctx: ctx, src: src}
}

type boundSource struct {
	ctx  context.Context
	src  *client.TokenSource
	last atomic.Pointer[oauth2.Token] // the conversion of src's token
}

// Token implements oauth2.TokenSource.
func (s *boundSource) Token() (*oauth2.Token, error) {
	tok, err := s.src.Token(s.ctx)
	if err != nil {
		return nil, fmt.Errorf("oauth2: credhost: %w", err)
	}
	// Equal strings sharing their bytes compare in constant time.
	if last := s.last.Load(); last != nil && last.AccessToken == tok.AccessToken.Reveal() {
		return last, nil
	}
	t := convert(tok)
	s.last.Store(t)
	return t, nil
}

// Interface guards.
var (
	_ oauth2.TokenSource = (*tokenSource)(nil)
	_ oauth2.TokenSource = (*boundSource)(nil)
)
