package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// signToken signs claims with the emulator's key, with the kid and x5t
// headers Entra ID sends.
func (s *Server) signToken(claims map[string]any) (string, error) {
	return signJWT(s.pki.signingKey, map[string]any{"typ": "JWT", "kid": s.pki.kid, "x5t": s.pki.kid}, claims)
}

// issuerURL is the v2.0 issuer of tenantID as seen on host.
func issuerURL(host, tenantID string) string {
	return "https://" + host + "/" + tenantID + "/v2.0"
}

// Issuer returns the v2.0 issuer of tenant (its GUID or domain),
// "https://127.0.0.1:PORT/<tenantID>/v2.0". An unknown tenant is used as
// given. Tokens requested through another host name covered by the server
// certificate carry that host instead.
func (s *Server) Issuer(tenant string) string {
	if t, ok := s.dir.tenant(tenant); ok {
		tenant = t.id
	}
	return s.URL() + "/" + tenant + "/v2.0"
}

// errTokenExpired is what verifyAccessToken wraps when the token is past
// its exp, so that the on-behalf-of grant can answer AADSTS500133 rather
// than the generic invalid-assertion code.
var errTokenExpired = errors.New("expired")

// VerifyAccessToken checks that raw is an access token the emulator issued
// and that it is valid now (by Options.Now): RS256 signature with the
// emulator's key, an issuer of one of its tenants on one of its host names
// (or the v1.0 issuer for a "ver" 1.0 token), a matching tid, exp in
// the future and nbf not in the future (5 minutes of skew). It returns
// the claims, with numbers as float64. It does not check the audience;
// callers do. Safe for concurrent use.
func (s *Server) VerifyAccessToken(raw string) (map[string]any, error) {
	claims, err := s.verifyAccessToken(raw)
	if err != nil {
		return nil, fmt.Errorf("emulator: verify access token: %w", err)
	}
	return claims, nil
}

func (s *Server) verifyAccessToken(raw string) (map[string]any, error) {
	t, err := parseJWT(raw)
	if err != nil {
		return nil, err
	}
	if alg := t.alg(); alg != "RS256" {
		return nil, fmt.Errorf("alg %q is not RS256", alg)
	}
	if kid := stringClaim(t.header, "kid"); kid != s.pki.kid {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	if err := t.verify(&s.pki.signingKey.PublicKey); err != nil {
		return nil, fmt.Errorf("bad signature: %w", err)
	}
	iss := stringClaim(t.claims, "iss")
	tid, err := s.accessTokenTenant(iss, stringClaim(t.claims, "ver"))
	if err != nil {
		return nil, err
	}
	if got := stringClaim(t.claims, "tid"); got != tid {
		return nil, fmt.Errorf("tid %q does not match issuer %q", got, iss)
	}
	now := s.now()
	exp, ok := numericClaim(t.claims, "exp")
	if !ok {
		return nil, errors.New("no exp claim")
	}
	if now.Unix() >= exp {
		return nil, fmt.Errorf("%w at %d, now %d", errTokenExpired, exp, now.Unix())
	}
	if nbf, ok := numericClaim(t.claims, "nbf"); ok && nbf > now.Add(clockSkew).Unix() {
		return nil, fmt.Errorf("not valid before %d, now %d", nbf, now.Unix())
	}
	var out map[string]any
	if err := json.Unmarshal(t.claimsJSON, &out); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	return out, nil
}

// accessTokenTenant returns the tenant GUID named by an access token's
// issuer: a v2.0 issuer on one of the emulator's host names, or for a
// version 1.0 token the v1.0 issuer, and in both cases one of its
// tenants.
func (s *Server) accessTokenTenant(iss, ver string) (string, error) {
	if tid, ok := v1IssuerTenant(iss); ok && ver == "1.0" {
		if tenant, ok := s.dir.tenant(tid); ok && tenant.id == tid {
			return tid, nil
		}
		return "", fmt.Errorf("issuer %q names no tenant of this emulator", iss)
	}
	u, err := url.Parse(iss)
	if err != nil || u.Scheme != "https" || !s.pki.knownHost(u.Host) {
		return "", fmt.Errorf("issuer %q is not this emulator", iss)
	}
	tid, rest, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	tenant, ok := s.dir.tenant(tid)
	if rest != "v2.0" || !ok || tenant.id != tid {
		return "", fmt.Errorf("issuer %q names no tenant of this emulator", iss)
	}
	return tid, nil
}

// newUTI returns a random token identifier like Entra ID's "uti".
func newUTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
