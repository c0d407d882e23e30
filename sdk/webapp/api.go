package webapp

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/credhost/credhost/sdk"
)

// ErrNoBearer is returned by OnBehalfOf and BearerToken when the request
// carries no usable "Authorization: Bearer <token>" header. WriteError
// answers it with 401 and a bare Bearer challenge.
var ErrNoBearer = errors.New("webapp: the request has no bearer token")

// API is the credhost side of a web API: it exchanges the bearer token of
// each incoming request for downstream tokens (on-behalf-of). It is safe
// for concurrent use.
type API struct {
	cred sdk.Credential
}

// NewAPI returns an API over cred, typically a *client.Client (sdk/client) for a profile
// whose chain is ["obo"]. It panics if cred is nil, a programming error.
func NewAPI(cred sdk.Credential) *API {
	if cred == nil {
		panic("webapp: NewAPI with a nil credential")
	}
	return &API{cred: cred}
}

// OnBehalfOf returns a token for scopes (of a downstream API) for the user
// who called r, by exchanging r's bearer token. It does not validate the
// incoming token: the web API must have done so (signature, issuer,
// audience, expiry) before acting on it; Entra ID checks it again.
//
// Errors: ErrNoBearer without a bearer token; otherwise the credential's
// error, an *sdk.Error: KindInteractionRequired with Claims when the user
// must step up (pass it to WriteChallenge), KindFailed with the AADSTS
// code when the token was expired (500133) or not for this API (500131).
func (a *API) OnBehalfOf(r *http.Request, scopes ...string) (sdk.Token, error) {
	return a.OnBehalfOfContext(r.Context(), r, scopes...)
}

// OnBehalfOfContext is OnBehalfOf under ctx rather than r.Context().
func (a *API) OnBehalfOfContext(ctx context.Context, r *http.Request, scopes ...string) (sdk.Token, error) {
	assertion, err := BearerToken(r)
	if err != nil {
		return sdk.Token{}, err
	}
	// The host's token cache keys downstream tokens by a hash of the
	// assertion: each caller gets their own.
	return a.cred.GetToken(ctx, sdk.TokenRequest{Scopes: scopes, UserAssertion: assertion})
}

// BearerToken returns the token of r's "Authorization: Bearer <token>"
// header (the scheme is case-insensitive), or ErrNoBearer if there is no
// such header, more than one, or an empty token.
func BearerToken(r *http.Request) (sdk.Secret, error) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return sdk.Secret{}, ErrNoBearer
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return sdk.Secret{}, ErrNoBearer
	}
	return sdk.NewSecret(token), nil
}
