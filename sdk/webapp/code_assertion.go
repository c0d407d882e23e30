package webapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/credhost/credhost/sdk"
)

// The plugin protocol's TokenRequest has no fields for an authorization
// code, its PKCE verifier, redirect URI and nonce. Until it does, a code
// travels to the authcode plugin (mode = "webapp") in
// TokenRequest.UserAssertion, the request's one secret field, as this
// JSON object:
//
//	{"credhost_authcode":1,"code":"…","code_verifier":"…","redirect_uri":"…","nonce":"…"}
//
// code and redirect_uri are required; code_verifier (PKCE) and nonce are
// sent when the authorization request had them. Being a Secret, the whole
// object prints as [redacted] everywhere (logs, errors, %v), and the
// host's cache keys use only its SHA-256. The version field lets the
// plugin tell a code from anything else put in UserAssertion.
const codeAssertionVersion = 1

// codeAssertion is the wire form of a Code in UserAssertion.
type codeAssertion struct {
	Version     int    `json:"credhost_authcode"`
	Code        string `json:"code"`
	Verifier    string `json:"code_verifier,omitempty"`
	RedirectURI string `json:"redirect_uri"`
	Nonce       string `json:"nonce,omitempty"`
}

// ErrNotCodeAssertion is returned by ParseCodeAssertion for a value that is
// not a code assertion at all (an on-behalf-of token, say), as opposed to
// a malformed one.
var ErrNotCodeAssertion = errors.New("webapp: the user assertion is not an authorization code from webapp.CodeAssertion")

// CodeAssertion encodes c's code, verifier, redirect URI and nonce as the
// TokenRequest.UserAssertion that the authcode plugin's web-app mode
// redeems (c.Scopes go in TokenRequest.Scopes). The result is a Secret:
// it never prints.
func CodeAssertion(c Code) sdk.Secret {
	b, _ := json.Marshal(codeAssertion{Version: codeAssertionVersion, Code: c.Code.Reveal(), Verifier: c.Verifier.Reveal(),
		RedirectURI: c.RedirectURI, Nonce: c.Nonce}) // a struct of strings always marshals
	return sdk.NewSecret(string(b))
}

// ParseCodeAssertion decodes a UserAssertion made by CodeAssertion; the
// returned Code has no Scopes. It returns ErrNotCodeAssertion for a value
// that is not one, and another error (whose text holds no part of the
// value) for one that is malformed.
func ParseCodeAssertion(s sdk.Secret) (Code, error) {
	raw := []byte(strings.TrimSpace(s.Reveal()))
	if !bytes.HasPrefix(raw, []byte("{")) {
		return Code{}, ErrNotCodeAssertion
	}
	var probe struct {
		Version *int `json:"credhost_authcode"`
	}
	if json.Unmarshal(raw, &probe) != nil || probe.Version == nil {
		return Code{}, ErrNotCodeAssertion
	}
	if *probe.Version != codeAssertionVersion {
		return Code{}, errors.New("webapp: the code assertion has an unknown version; upgrade the plugin or the SDK so that they match")
	}
	var a codeAssertion
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		// Not err's text: it could quote part of the value.
		return Code{}, errors.New("webapp: the code assertion is not well-formed")
	}
	if strings.TrimSpace(a.Code) == "" || strings.TrimSpace(a.RedirectURI) == "" {
		return Code{}, errors.New("webapp: the code assertion lacks the code or the redirect URI")
	}
	return Code{Code: sdk.NewSecret(a.Code), Verifier: sdk.NewSecret(a.Verifier), RedirectURI: a.RedirectURI, Nonce: a.Nonce}, nil
}
