package emulator

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// maxJWTSize bounds the compact JWTs the emulator parses. Real assertions
// and tokens are a few KiB.
const maxJWTSize = 64 << 10

// jwtToken is a parsed, not yet verified, compact JWS.
type jwtToken struct {
	header       map[string]any
	claims       map[string]any
	claimsJSON   []byte // the decoded claims segment
	signingInput string // base64url(header) "." base64url(claims)
	signature    []byte
}

// parseJWT splits and decodes a compact JWS without verifying it. It never
// panics on hostile input.
func parseJWT(raw string) (*jwtToken, error) {
	if len(raw) > maxJWTSize {
		return nil, errors.New("jwt: too large")
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("jwt: not three dot-separated parts")
	}
	t := &jwtToken{signingInput: parts[0] + "." + parts[1]}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("jwt: header: %w", err)
	}
	if t.header, err = decodeJSONObject(hb); err != nil {
		return nil, fmt.Errorf("jwt: header: %w", err)
	}
	if t.claimsJSON, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
		return nil, fmt.Errorf("jwt: claims: %w", err)
	}
	if t.claims, err = decodeJSONObject(t.claimsJSON); err != nil {
		return nil, fmt.Errorf("jwt: claims: %w", err)
	}
	if t.signature, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, fmt.Errorf("jwt: signature: %w", err)
	}
	return t, nil
}

// decodeJSONObject decodes a JSON object, keeping numbers as json.Number.
func decodeJSONObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// alg returns the header's "alg".
func (t *jwtToken) alg() string { return stringClaim(t.header, "alg") }

// verify checks the signature with pub. Only RS256 and PS256 are accepted.
func (t *jwtToken) verify(pub *rsa.PublicKey) error {
	if pub == nil {
		return errors.New("jwt: no key")
	}
	digest := sha256.Sum256([]byte(t.signingInput))
	switch alg := t.alg(); alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], t.signature)
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, digest[:], t.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		return fmt.Errorf("jwt: unsupported alg %q", alg)
	}
}

// signJWT returns a compact RS256 JWS over header and claims. "alg" is set
// in the header.
func signJWT(key *rsa.PrivateKey, header, claims map[string]any) (string, error) {
	h := make(map[string]any, len(header)+1)
	for k, v := range header {
		h[k] = v
	}
	h["alg"] = "RS256"
	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("jwt: encode header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwt: encode claims: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("jwt: sign: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// stringClaim returns m[name] if it is a string, else "".
func stringClaim(m map[string]any, name string) string {
	s, _ := m[name].(string)
	return s
}

// numericClaim returns m[name] as Unix seconds if it is a JSON number that
// fits an int64.
func numericClaim(m map[string]any, name string) (int64, bool) {
	switch v := m[name].(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, true
		}
		f, err := v.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
			return 0, false
		}
		return int64(f), true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) || v > math.MaxInt64 || v < math.MinInt64 {
			return 0, false
		}
		return int64(v), true
	}
	return 0, false
}

// audiences returns the "aud" claim, which may be a string or an array of
// strings.
func audiences(m map[string]any) []string {
	switch v := m["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, a := range v {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// decodeThumbprint decodes a certificate thumbprint header. MSAL Go sends
// standard base64 although RFC 7515 says base64url, so both are accepted,
// padded or not.
func decodeThumbprint(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}
