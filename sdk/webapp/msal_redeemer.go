package webapp

import (
	"context"
	"crypto/subtle"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/jwtpeek"
	"github.com/credhost/credhost/sdk/msalerr"
)

// MSALRedeemer redeems codes in-process with an MSAL confidential client,
// whose own cache keeps the user's tokens: a reference Redeemer.
// CredentialRedeemer redeems through credhost instead, so that the tokens
// land in the host's (shared) cache. It is safe for concurrent use.
type MSALRedeemer struct {
	client confidential.Client
}

// NewMSALRedeemer returns a Redeemer over client, a confidential client of
// the web app (its authority, client id and credential).
func NewMSALRedeemer(client confidential.Client) *MSALRedeemer {
	return &MSALRedeemer{client: client}
}

// Redeem implements Redeemer. Errors are *sdk.Error; a missing or wrong
// nonce in the ID token is KindFailed.
func (m *MSALRedeemer) Redeem(ctx context.Context, c Code) (Result, error) {
	res, err := m.client.AcquireTokenByAuthCode(ctx, c.Code.Reveal(), c.RedirectURI, c.Scopes, confidential.WithChallenge(c.Verifier.Reveal()))
	if err != nil {
		return Result{}, msalerr.Classify("webapp", err)
	}
	// MSAL does not check the nonce; without this check an ID token from
	// another sign-in could be injected.
	if n := idTokenNonce(res.IDToken.RawToken); c.Nonce == "" || subtle.ConstantTimeCompare([]byte(n), []byte(c.Nonce)) != 1 {
		return Result{}, sdk.Failed("webapp", "the ID token's nonce does not match the sign-in's")
	}
	return Result{
		Token: sdk.Token{
			AccessToken: sdk.NewSecret(res.AccessToken), TokenType: "Bearer", ExpiresOn: res.ExpiresOn, RefreshOn: res.Metadata.RefreshOn,
			Account: sdk.Account{HomeAccountID: res.Account.HomeAccountID, Username: res.Account.PreferredUsername, TenantID: res.Account.Realm},
			Flow:    "webapp",
		},
		Account: sdk.Account{HomeAccountID: res.Account.HomeAccountID, Username: res.Account.PreferredUsername, TenantID: res.Account.Realm},
	}, nil
}

// idTokenNonce reads the nonce claim of an ID token MSAL received over
// TLS from the token endpoint (so its signature need not be checked here).
func idTokenNonce(raw string) string {
	var c struct {
		Nonce string `json:"nonce"`
	}
	_ = jwtpeek.Claims(raw, &c)
	return c.Nonce
}

var _ Redeemer = (*MSALRedeemer)(nil)
