package emulator

import (
	"errors"
	"fmt"
	"time"
)

// FederationIssuer returns the issuer of the workload identity tokens the
// emulator mints, URL()+"/federation". A FederatedCredential with an empty
// Issuer means this issuer. It is "" before Start.
func (s *Server) FederationIssuer() string {
	u := s.URL()
	if u == "" {
		return ""
	}
	return u + "/federation"
}

// IssueFederatedToken mints a workload identity token (like a Kubernetes
// service account or GitHub Actions OIDC token) with iss FederationIssuer,
// the given sub and aud (empty means DefaultFederatedAudience), signed with
// the emulator's key. A lifetime of 0 means Options.TokenLifetime; a
// negative one yields an already expired token, for tests. The server must
// be started. Safe for concurrent use.
func (s *Server) IssueFederatedToken(subject, audience string, lifetime time.Duration) (string, error) {
	iss := s.FederationIssuer()
	if iss == "" {
		return "", errors.New("emulator: issue federated token: server not started")
	}
	if subject == "" {
		return "", errors.New("emulator: issue federated token: empty subject")
	}
	if audience == "" {
		audience = DefaultFederatedAudience
	}
	if lifetime == 0 {
		lifetime = s.opts.TokenLifetime
	}
	now := s.now()
	exp := now.Add(lifetime)
	iat := now
	if exp.Before(iat) {
		iat = exp.Add(-time.Minute)
	}
	tok, err := s.signToken(map[string]any{
		"iss": iss,
		"sub": subject,
		"aud": audience,
		"iat": iat.Unix(),
		"nbf": iat.Unix(),
		"exp": exp.Unix(),
		"jti": newGUID(),
	})
	if err != nil {
		return "", fmt.Errorf("emulator: issue federated token: %w", err)
	}
	return tok, nil
}
