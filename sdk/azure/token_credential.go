// Package azure makes a credhost Credential usable by the Azure SDK for
// Go: NewTokenCredential returns an azcore.TokenCredential, which every
// Azure SDK client (azblob, azkeys, armresources, ...) and azidentity's
// ChainedTokenCredential accept.
//
// Tokens come from the Credential (usually a *client.Client (sdk/client) for a profile),
// so the profile's chain, plugins and token cache decide how they are
// obtained; the Azure SDK only says which scopes, tenant and claims it
// needs.
package azure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/credhost/credhost/sdk"
)

// Options tunes NewTokenCredential. A nil *Options means the defaults.
type Options struct {
	// Account is passed as sdk.TokenRequest.Account on every request: the
	// username or home account id that user flows should prefer. Default
	// none.
	Account string
}

// TokenCredential is an azcore.TokenCredential backed by a credhost
// Credential. It is safe for concurrent use if its Credential is (an
// *client.Client is). Create it with NewTokenCredential.
//
// GetToken maps policy.TokenRequestOptions to an sdk.TokenRequest:
//
//   - Scopes, TenantID and Claims are passed through. A tenant the Azure
//     SDK learned from a resource's challenge reaches the flow, which
//     decides whether it may use it (credhost has no equivalent of
//     azidentity's AdditionallyAllowedTenants).
//   - EnableCAE has no credhost counterpart and is ignored: credhost flows
//     never declare the "cp1" client capability, so their tokens are never
//     CAE tokens. That is what a client asking EnableCAE=false needs, and a
//     client asking true, which must also handle CAE challenges, works with
//     them too; the claims of such a challenge arrive in Claims, which
//     makes credhost skip its caches and ask the IdP anew.
//   - The result is azcore.AccessToken{Token, ExpiresOn, RefreshOn}; a
//     zero RefreshOn means unknown, as in azcore. A token type other than
//     Bearer is refused, since azcore sends every token as a bearer.
//
// Errors wrap the Credential's error, so core.KindOf, errors.As with a
// *sdk.Error (a *core.Error) or *sdk.ChainError, and errors.Is keep
// working. An error of kind Unavailable or InteractionRequired also
// matches what azidentity.NewCredentialUnavailableError returns, the only
// public way to make an error azidentity treats as "unavailable": an
// azidentity.ChainedTokenCredential then tries its next source, as it does
// for its own credentials that cannot run here or that need the user
// (azidentity's AuthenticationRequiredError is "unavailable" too). Any
// other error stops such a chain. Error text is not contractual.
type TokenCredential struct {
	cred    sdk.Credential
	account string
}

// NewTokenCredential returns a TokenCredential that gets tokens from c. It
// does no I/O; it fails only if c is nil.
func NewTokenCredential(c sdk.Credential, opts *Options) (*TokenCredential, error) {
	if c == nil {
		return nil, errors.New("azure: NewTokenCredential: the credential is nil")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	return &TokenCredential{cred: c, account: o.Account}, nil
}

// GetToken implements azcore.TokenCredential; see TokenCredential for how
// options and errors map.
func (tc *TokenCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) == 0 {
		return azcore.AccessToken{}, errors.New("azure: GetToken needs at least one scope")
	}
	tok, err := tc.cred.GetToken(ctx, sdk.TokenRequest{
		// Cloned: the Credential may keep the request (a cache key), and
		// the caller owns its slice.
		Scopes:   slices.Clone(opts.Scopes),
		TenantID: opts.TenantID,
		Claims:   opts.Claims,
		Account:  tc.account,
	})
	if err != nil {
		return azcore.AccessToken{}, wrapError(err)
	}
	if typ := tok.TokenType; typ != "" && !strings.EqualFold(typ, "Bearer") {
		return azcore.AccessToken{}, fmt.Errorf("azure: the credential returned a %q token; the Azure SDK sends only bearer tokens", typ)
	}
	return azcore.AccessToken{Token: tok.AccessToken.Reveal(), ExpiresOn: tok.ExpiresOn, RefreshOn: tok.RefreshOn}, nil
}

// wrapError prefixes err and, for the kinds a chain skips, attaches
// azidentity's unavailable marker.
func wrapError(err error) error {
	switch sdk.KindOf(err) {
	case sdk.KindUnavailable, sdk.KindInteractionRequired:
		return &unavailableError{err: err, marker: azidentity.NewCredentialUnavailableError(err.Error())}
	default:
		return fmt.Errorf("azure: %w", err)
	}
}

// unavailableError is a credhost error that azidentity also reads as
// "credential unavailable": errors.As finds the credhost error through
// err and azidentity's private marker interface through marker.
type unavailableError struct {
	err    error
	marker error
}

func (e *unavailableError) Error() string { return "azure: " + e.err.Error() }

// Unwrap returns the credhost error and the azidentity marker.
func (e *unavailableError) Unwrap() []error { return []error{e.err, e.marker} }

// Interface guards.
var _ azcore.TokenCredential = (*TokenCredential)(nil)
