// Package jwtpeek reads the claims of a compact JWT without verifying it:
// for values whose source was already trusted (a token received over TLS
// from the token endpoint) or that only decide whether to ask the IdP
// again (an expiry), and for showing people what they hold. Never use it
// to make a token trusted. It imports only the standard library, so a
// plugin can use it without linking the host.
package jwtpeek

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotJWT is wrapped by the errors of a token that is not a compact JWT
// (three dot-separated base64url parts, the second a JSON object).
var ErrNotJWT = errors.New("not a JWT")

// Payload returns the decoded payload (the JSON claims) of token. Padding
// is tolerated, as some issuers add it. The signature is not checked.
func Payload(token string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("%w: expected three dot-separated base64url parts", ErrNotJWT)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("%w: the payload is not base64url", ErrNotJWT)
	}
	return b, nil
}

// Claims decodes the payload of token into v (a struct or a map).
func Claims(token string, v any) error {
	b, err := Payload(token)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: the payload is not a JSON object", ErrNotJWT)
	}
	return nil
}

// Expiry returns the exp claim of token, if it has a numeric one.
func Expiry(token string) (time.Time, bool) {
	var c struct {
		Exp *json.Number `json:"exp"`
	}
	if Claims(token, &c) != nil || c.Exp == nil {
		return time.Time{}, false
	}
	f, err := c.Exp.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}
