package webapp

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/credhost/credhost/sdk"
)

// ChallengeOptions adds the optional parameters Microsoft identity
// platform APIs put in their WWW-Authenticate challenges. Nil or zero
// fields are left out.
type ChallengeOptions struct {
	// Realm is the realm parameter, e.g. the tenant id.
	Realm string
	// AuthorizationURI is where the client signs the user in, e.g.
	// https://login.microsoftonline.com/<tenant>/oauth2/v2.0/authorize.
	AuthorizationURI string
	// ClientID is the API's client id, which clients use to find it.
	ClientID string
}

// Challenge returns the WWW-Authenticate value for err if err asks the
// user to interact with a claims challenge (an *sdk.Error of
// KindInteractionRequired with Claims):
//
//	Bearer realm="", error="insufficient_claims", claims="<base64 of the claims JSON>"
//
// as Microsoft identity platform APIs answer, so that MSAL and the Azure
// SDKs on the client get a token with those claims and call again. It
// returns false for any other error. opts may be nil.
func Challenge(err error, opts *ChallengeOptions) (string, bool) {
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindInteractionRequired || e.Claims == "" {
		return "", false
	}
	params := bearerParams(opts)
	params = append(params, `error="insufficient_claims"`, `claims="`+base64.StdEncoding.EncodeToString([]byte(e.Claims))+`"`)
	return "Bearer " + strings.Join(params, ", "), true
}

// WriteChallenge answers w with 401 and Challenge's WWW-Authenticate if
// err is a claims challenge, and reports whether it did; otherwise it
// writes nothing.
func WriteChallenge(w http.ResponseWriter, err error, opts *ChallengeOptions) bool {
	h, ok := Challenge(err, opts)
	if !ok {
		return false
	}
	w.Header().Set("WWW-Authenticate", h)
	http.Error(w, "the user must sign in again to satisfy a conditional access policy", http.StatusUnauthorized)
	return true
}

// invalidTokenCodes are AADSTS codes that mean the caller's token is not
// good for on-behalf-of: expired, for another audience, or not a token of
// this tenant. The client should get a new one.
var invalidTokenCodes = map[int]bool{500133: true, 500131: true, 50013: true, 50027: true}

// WriteError answers w for an error of OnBehalfOf: ErrNoBearer is 401
// with a bare Bearer challenge; a claims challenge is WriteChallenge's
// 401; a caller token Entra ID refused (expired, wrong audience) is 401
// error="invalid_token"; anything else is 502, since the API's own
// upstream failed. Bodies are short fixed texts: error text is for logs.
func WriteError(w http.ResponseWriter, err error, opts *ChallengeOptions) {
	if WriteChallenge(w, err, opts) {
		return
	}
	var e *sdk.Error
	switch {
	case errors.Is(err, ErrNoBearer):
		w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(bearerParams(opts), ", "))
		http.Error(w, "a bearer token is required", http.StatusUnauthorized)
	case errors.As(err, &e) && invalidTokenCodes[e.Code]:
		w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(append(bearerParams(opts), `error="invalid_token"`), ", "))
		http.Error(w, "the bearer token cannot be used: get a new one", http.StatusUnauthorized)
	default:
		http.Error(w, "the downstream API could not be reached", http.StatusBadGateway)
	}
}

// bearerParams are the challenge parameters from opts; realm is always
// there, since some clients require it.
func bearerParams(opts *ChallengeOptions) []string {
	var o ChallengeOptions
	if opts != nil {
		o = *opts
	}
	params := []string{`realm="` + quote(o.Realm) + `"`}
	if o.AuthorizationURI != "" {
		params = append(params, `authorization_uri="`+quote(o.AuthorizationURI)+`"`)
	}
	if o.ClientID != "" {
		params = append(params, `client_id="`+quote(o.ClientID)+`"`)
	}
	return params
}

// quote escapes a quoted-string (RFC 9110).
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "").Replace(s)
}
