package emulator

import (
	"encoding/base64"
	"math/big"
	"net/http"
)

// jwk is one RSA key in a JWKS, as Entra ID publishes it.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer,omitempty"`
}

type jwks struct {
	Keys []jwk `json:"keys"`
}

// handleKeys serves GET /{tenant}/discovery/v2.0/keys: the token signing
// key.
func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	t, ok := s.resolveTenant(seg)
	if !ok {
		s.writeError(w, r, errTenantNotFound("invalid_tenant", seg))
		return
	}
	issuerTenant := "{tenantid}"
	if t != nil {
		issuerTenant = t.id
		infoFrom(r.Context()).tenant = t.id
	}
	k := s.signingJWK()
	k.Issuer = "https://" + s.publicHost(r) + "/" + issuerTenant + "/v2.0"
	writeJSON(w, http.StatusOK, jwks{Keys: []jwk{k}})
}

func (s *Server) signingJWK() jwk {
	pub := &s.pki.signingKey.PublicKey
	return jwk{
		Kty: "RSA",
		Use: "sig",
		Kid: s.pki.kid,
		X5t: s.pki.kid,
		N:   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		X5c: []string{base64.StdEncoding.EncodeToString(s.pki.signingCert.Raw)},
	}
}
