package emulator

import (
	"crypto/rsa"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// clockSkew is how far in the future an assertion's nbf may be.
const clockSkew = 5 * time.Minute

// verifyClientAssertion checks a client_assertion for app and says which
// kind it was. An assertion whose iss is the client id is a certificate
// assertion; any other is a federated one.
func (s *Server) verifyClientAssertion(q *tokenRequest, app *appRec, raw string) (clientAuthMethod, *aadError) {
	t, err := parseJWT(raw)
	if err != nil {
		return "", errMalformedJWT()
	}
	iss := stringClaim(t.claims, "iss")
	if iss == "" {
		return "", errMalformedJWT()
	}
	if !strings.EqualFold(iss, app.ClientID) {
		if aerr := s.verifyFederatedAssertion(app, t); aerr != nil {
			return "", aerr
		}
		return authFederated, nil
	}
	if aerr := s.verifyCertificateAssertion(q, app, t); aerr != nil {
		return "", aerr
	}
	return authCertificate, nil
}

// verifyCertificateAssertion checks an assertion signed with one of the
// app's certificates, named by its x5t#S256 (or x5t) header.
func (s *Server) verifyCertificateAssertion(q *tokenRequest, app *appRec, t *jwtToken) *aadError {
	tpHeader := stringClaim(t.header, "x5t#S256")
	if tpHeader == "" {
		tpHeader = stringClaim(t.header, "x5t")
	}
	tp, ok := decodeThumbprint(tpHeader)
	if tpHeader == "" || !ok {
		return errAssertionSignature(app, "the client assertion has no x5t#S256 or x5t header")
	}
	reg, ok := app.certByThumbprint(tp)
	if !ok {
		return newError(http.StatusUnauthorized, "invalid_client", 700027,
			"The certificate with identifier used to sign the client assertion is not registered on application. "+
				"[Reason - The key was not found., Thumbprint of key used by client: '%s', "+
				"Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]",
			Thumbprint(tp), app.ClientID)
	}
	pub, ok := reg.cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errAssertionSignature(app, "the registered certificate's key is not RSA")
	}
	if err := t.verify(pub); err != nil {
		return errAssertionSignature(app, "the signature does not verify")
	}
	if sub := stringClaim(t.claims, "sub"); !strings.EqualFold(sub, app.ClientID) {
		return newError(http.StatusUnauthorized, "invalid_client", 700021,
			"Client assertion application identifier doesn't match 'client_id' parameter.")
	}
	if !s.isTokenEndpoint(q, audiences(t.claims)) {
		return newError(http.StatusUnauthorized, "invalid_client", 700023,
			"Client assertion audience claim does not match Realm issuer. The audience must be the token endpoint.")
	}
	if stringClaim(t.claims, "jti") == "" {
		return errMalformedJWT()
	}
	return s.checkAssertionTimes(t)
}

// verifyFederatedAssertion checks a workload identity assertion against the
// app's federated credentials. Only assertions the emulator issued itself
// (iss == FederationIssuer) can have their signature verified.
func (s *Server) verifyFederatedAssertion(app *appRec, t *jwtToken) *aadError {
	iss, sub := stringClaim(t.claims, "iss"), stringClaim(t.claims, "sub")
	own := s.URL() != "" && iss == s.FederationIssuer()
	if own {
		if t.alg() != "RS256" || t.verify(&s.pki.signingKey.PublicKey) != nil {
			return errAssertionSignature(app, "the federated assertion's signature does not verify")
		}
		if aerr := s.checkAssertionTimes(t); aerr != nil {
			return aerr
		}
	}
	auds := audiences(t.claims)
	for _, fc := range app.FederatedCredentials {
		want := fc.Issuer
		if want == "" {
			want = s.FederationIssuer()
		}
		aud := fc.Audience
		if aud == "" {
			aud = DefaultFederatedAudience
		}
		if want == iss && fc.Subject == sub && slices.Contains(auds, aud) {
			if !own {
				return errAssertionSignature(app, "the emulator can only verify federated assertions it issued")
			}
			return nil
		}
	}
	return newError(http.StatusBadRequest, "invalid_request", 70021,
		"No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. "+
			"Assertion Subject: '%s'. Assertion Audience: '%s'.", iss, sub, strings.Join(auds, ","))
}

// checkAssertionTimes requires exp in the future and nbf (if present) not
// more than clockSkew in the future.
func (s *Server) checkAssertionTimes(t *jwtToken) *aadError {
	exp, ok := numericClaim(t.claims, "exp")
	if !ok {
		return errMalformedJWT()
	}
	now := s.now()
	nbf, hasNBF := numericClaim(t.claims, "nbf")
	if now.Unix() >= exp || (hasNBF && nbf > now.Add(clockSkew).Unix()) {
		from := "(none)"
		if hasNBF {
			from = time.Unix(nbf, 0).UTC().Format(time.RFC3339)
		}
		return newError(http.StatusUnauthorized, "invalid_client", 700024,
			"Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC3339), from, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// isTokenEndpoint reports whether one of auds is this request's token
// endpoint, with the tenant as sent, as its GUID or as its domain, on any
// host the server certificate covers.
func (s *Server) isTokenEndpoint(q *tokenRequest, auds []string) bool {
	tenants := []string{q.tenantSeg}
	if q.tenant != nil {
		tenants = append(tenants, q.tenant.id, q.tenant.domain)
	}
	for _, a := range auds {
		u, err := url.Parse(a)
		if err != nil || u.Scheme != "https" || !s.pki.knownHost(u.Host) || u.RawQuery != "" {
			continue
		}
		seg, rest, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		if rest != "oauth2/v2.0/token" {
			continue
		}
		for _, t := range tenants {
			if t != "" && strings.EqualFold(seg, t) {
				return true
			}
		}
	}
	return false
}

func errMalformedJWT() *aadError {
	return newError(http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed.")
}

func errAssertionSignature(app *appRec, reason string) *aadError {
	return newError(http.StatusUnauthorized, "invalid_client", 700027,
		"Client assertion failed signature validation. [Reason - %s., app Id '%s']", reason, app.ClientID)
}
