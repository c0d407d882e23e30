package emulator

import (
	"errors"
	"fmt"
	"net/http"
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

// The workload identity issuer: FederationIssuer is an OpenID Connect
// issuer like a Kubernetes cluster's service account issuer, with
//
//	GET  /federation/.well-known/openid-configuration   discovery
//	GET  /federation/keys                               its JWKS
//	POST /federation/token   subject=...&audience=...   mints a token
//
// The last is the emulator's own (a cluster mints tokens for its pods): it
// lets `credhost emulator token --federated` and scripts get a token a
// FederatedCredential with an empty Issuer trusts.

// FederationTokenPath is the path of the workload token minting endpoint.
const FederationTokenPath = "/federation/token"

func (s *Server) handleFederationDiscovery(w http.ResponseWriter, r *http.Request) {
	iss := s.FederationIssuer()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              iss + "/keys",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (s *Server) handleFederationKeys(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jwks{Keys: []jwk{s.signingJWK()}})
}

// handleFederationToken mints a workload token for the form's subject and
// audience (default DefaultFederatedAudience), answering {"token": ...}.
func (s *Server) handleFederationToken(w http.ResponseWriter, r *http.Request) {
	if infoFrom(r.Context()).formErr != nil {
		s.writeError(w, r, errBadRequest("the request body is not a valid form."))
		return
	}
	sub := r.PostForm.Get("subject")
	if sub == "" {
		s.writeError(w, r, errMissingParameter("subject"))
		return
	}
	tok, err := s.IssueFederatedToken(sub, r.PostForm.Get("audience"), 0)
	if err != nil {
		s.writeError(w, r, errServer(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}
