package webapp

import (
	"context"
	"errors"

	"github.com/credhost/credhost/sdk"
)

// CredentialRedeemer redeems codes through a credhost Credential: a
// profile whose chain is ["authcode"] with mode = "webapp" and the web
// app's client credential. The plugin redeems the code, checks the ID
// token's nonce and puts the user's tokens (refresh token included) in
// the host's token cache, in a partition of their own; with [cache]
// backend = "redis" every instance of a web farm shares them. Later
// tokens for that user are silent:
//
//	cred.GetToken(ctx, sdk.TokenRequest{Scopes: scopes, Account: res.Account.HomeAccountID})
//
// It is safe for concurrent use.
type CredentialRedeemer struct {
	cred sdk.Credential
}

// NewCredentialRedeemer returns a Redeemer over cred, typically an
// *client.Client for the web app's profile. It panics if cred is nil, a
// programming error.
func NewCredentialRedeemer(cred sdk.Credential) *CredentialRedeemer {
	if cred == nil {
		panic("webapp: NewCredentialRedeemer with a nil credential")
	}
	return &CredentialRedeemer{cred: cred}
}

// Redeem implements Redeemer. The code goes in the request's
// AuthorizationCode. ForceRefresh is set because a redemption
// must always reach the identity provider: the host's token cache must
// never answer for a code, which works once. Errors are the credential's:
// an *sdk.ChainError around the plugin's *sdk.Error (AADSTS54005 for a
// code redeemed already, with a hint to start a new sign-in).
func (r *CredentialRedeemer) Redeem(ctx context.Context, c Code) (Result, error) {
	tok, err := r.cred.GetToken(ctx, sdk.TokenRequest{Scopes: c.Scopes, AuthorizationCode: c.AuthorizationCode(), ForceRefresh: true})
	if err != nil {
		return Result{}, err
	}
	if tok.Account.HomeAccountID == "" {
		// Without it the app could never ask for this user's tokens.
		return Result{}, &sdk.Error{Kind: sdk.KindFailed, Flow: "webapp", Err: errors.New("the redemption returned no account"),
			Hint: "the profile must use the authcode flow with mode = \"webapp\", and the sign-in must ask for the openid scope"}
	}
	return Result{Token: tok, Account: tok.Account}, nil
}

var _ Redeemer = (*CredentialRedeemer)(nil)
