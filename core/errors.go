package core

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind says what a chain should do with an error. The zero value is
// KindFailed, so an unclassified error stops a chain rather than being
// silently skipped.
type Kind uint8

const (
	// KindFailed: the IdP or the flow refused (bad secret, disabled app,
	// code already redeemed, crash). The chain stops and reports it.
	KindFailed Kind = iota
	// KindUnavailable: the flow cannot run here (not configured, no
	// ticket, no browser, no terminal). The chain moves on.
	KindUnavailable
	// KindInteractionRequired: the IdP wants the user (MFA, conditional
	// access, consent). The chain moves on to flows that can interact.
	KindInteractionRequired
)

// String returns the kind's name as the CLI and logs show it.
func (k Kind) String() string {
	switch k {
	case KindUnavailable:
		return "unavailable"
	case KindInteractionRequired:
		return "interaction required"
	default:
		return "failed"
	}
}

// Error is a classified error from a flow. Its Error text is for people and
// is not a contract: match on Kind, Code or OAuthCode instead.
type Error struct {
	Kind Kind
	// Flow is the flow id that produced the error ("clientcreds").
	Flow string
	// Code is the AADSTS number, 0 if none (7000215 for AADSTS7000215).
	Code int
	// OAuthCode is the RFC 6749 error code, e.g. "invalid_client".
	OAuthCode string
	// CorrelationID and TraceID come from the IdP's error response.
	CorrelationID string
	TraceID       string
	// Claims is the claims challenge the IdP or resource sent, if any; a
	// web API returns it to its client in WWW-Authenticate.
	Claims string
	// Hint says what to do about it.
	Hint string
	// Err is the underlying error. Its text must not contain secrets.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Flow != "" {
		b.WriteString(e.Flow)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	if e.Err != nil {
		b.WriteString(": ")
		// An underlying error that names the flow itself (a ConfigError,
		// a plugin's message) would read "clientcreds: failed: clientcreds: …".
		msg := e.Err.Error()
		if e.Flow != "" {
			msg = strings.TrimPrefix(msg, e.Flow+": ")
		}
		b.WriteString(msg)
	}
	if e.Code != 0 && (e.Err == nil || !strings.Contains(e.Err.Error(), "AADSTS"+strconv.Itoa(e.Code))) {
		fmt.Fprintf(&b, " (AADSTS%d)", e.Code)
	}
	if e.CorrelationID != "" {
		fmt.Fprintf(&b, " [correlation id %s]", e.CorrelationID)
	}
	if e.Hint != "" {
		b.WriteString("; hint: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Unavailable returns an error of KindUnavailable for flow, formatted like
// fmt.Errorf.
func Unavailable(flow, format string, args ...any) *Error {
	return &Error{Kind: KindUnavailable, Flow: flow, Err: fmt.Errorf(format, args...)}
}

// Failed returns an error of KindFailed for flow, formatted like fmt.Errorf.
func Failed(flow, format string, args ...any) *Error {
	return &Error{Kind: KindFailed, Flow: flow, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the kind of err: the Kind of the first *Error or
// *ChainError in its chain, KindFailed for anything else (including nil
// wrapped nowhere).
func KindOf(err error) Kind {
	var ce *ChainError
	if errors.As(err, &ce) {
		return ce.Kind()
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindFailed
}

// AADSTS describes what credhost knows about one AADSTS error code.
type AADSTS struct {
	Kind Kind
	Hint string
}

// aadsts is the one table that maps Entra ID error codes to a kind and a
// remediation hint. Codes not listed are KindFailed with no hint.
var aadsts = map[int]AADSTS{
	// The user must interact.
	50058:  {KindInteractionRequired, "no signed-in session; sign in interactively (credhost login)"},
	50074:  {KindInteractionRequired, "strong authentication is required; use an interactive flow (authcode or devicecode)"},
	50076:  {KindInteractionRequired, "multi-factor authentication is required; use an interactive flow (authcode or devicecode)"},
	50079:  {KindInteractionRequired, "the user must enroll in multi-factor authentication; sign in interactively"},
	50078:  {KindInteractionRequired, "the multi-factor authentication claim expired; sign in interactively"},
	50158:  {KindInteractionRequired, "an external security challenge was not satisfied; sign in interactively"},
	65001:  {KindInteractionRequired, "the user or an administrator has not consented to the application; sign in interactively or ask an admin for consent"},
	70008:  {KindInteractionRequired, "the authorization code or refresh token expired; sign in again"},
	50173:  {KindInteractionRequired, "the refresh token was revoked (password change?); sign in again"},
	700082: {KindInteractionRequired, "the refresh token expired from inactivity; sign in again"},
	700084: {KindInteractionRequired, "the refresh token of a single-page app expired; sign in again"},
	// Refusals.
	7000215: {KindFailed, "the client secret is wrong; check the profile's client_secret (secrets expire: create a new one under the app registration's Certificates & secrets)"},
	7000222: {KindFailed, "the client secret expired; create a new one under the app registration's Certificates & secrets"},
	700016:  {KindFailed, "no application with this client_id exists in the tenant; check client_id and authority"},
	700027:  {KindFailed, "the client assertion's signature did not verify; upload the certificate's public key to the app registration or check the assertion"},
	700024:  {KindFailed, "the client assertion is outside its validity window; check the clock and the assertion's exp/nbf"},
	70021:   {KindFailed, "no federated identity credential matches the presented token; check the issuer, subject and audience configured on the app"},
	90002:   {KindFailed, "the tenant was not found; check the authority's tenant id or domain"},
	70011:   {KindFailed, "the scope is invalid; client credentials need a resource scope ending in /.default"},
	50126:   {KindFailed, "wrong username or password"},
	50034:   {KindFailed, "the user does not exist in this tenant; check the username"},
	50057:   {KindFailed, "the user account is disabled"},
	50053:   {KindFailed, "the account is locked after too many failed sign-ins; wait and retry"},
	54005:   {KindFailed, "authorization codes are single-use and this one was already redeemed; do not redeem again, use the cache (AcquireTokenSilent) or start a new sign-in"},
	70002:   {KindFailed, "the credentials were rejected; if this is a code redemption, codes are single-use: start a new sign-in"},
	70000:   {KindFailed, "the grant is invalid or malformed (wrong redirect URI, expired or reused code?)"},
	50148:   {KindFailed, "the PKCE code_verifier does not match the code_challenge; start a new sign-in"},
	500011:  {KindFailed, "the resource (scope) is not registered in this tenant; check the scope's resource URI"},
	53003:   {KindFailed, "access was blocked by a conditional access policy"},
	50059:   {KindFailed, "no tenant could be determined; use a tenant-specific authority"},
}

// LookupAADSTS returns what credhost knows about code. For a code not in
// the table it returns KindFailed and an empty hint.
func LookupAADSTS(code int) AADSTS { return aadsts[code] }

// ParseAADSTS extracts the first "AADSTS<digits>" code from s; 0 if none.
func ParseAADSTS(s string) int {
	i := strings.Index(s, "AADSTS")
	if i < 0 {
		return 0
	}
	j := i + len("AADSTS")
	k := j
	for k < len(s) && k-j < 9 && s[k] >= '0' && s[k] <= '9' {
		k++
	}
	n, err := strconv.Atoi(s[j:k])
	if err != nil {
		return 0
	}
	return n
}
