package emulator

import (
	"crypto/subtle"
	"net/http"
	"net/url"
)

// clientAssertionType is the only client_assertion_type Entra ID accepts.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientAuthMethod says how a client authenticated.
type clientAuthMethod string

const (
	authNone        clientAuthMethod = "none"            // a public client, identified by client_id only
	authSecret      clientAuthMethod = "client_secret"   // client_secret in the body or HTTP Basic
	authCertificate clientAuthMethod = "private_key_jwt" // assertion signed with a registered certificate
	authFederated   clientAuthMethod = "federated"       // assertion matching a federated credential
)

// client is an authenticated client of a token request.
type client struct {
	app    *appRec
	method clientAuthMethod
}

// azpacr is the "azpacr" claim for the method: 0 public, 1 secret, 2
// certificate or assertion.
func (c client) azpacr() string {
	switch c.method {
	case authSecret:
		return "1"
	case authCertificate, authFederated:
		return "2"
	}
	return "0"
}

// authenticateClient identifies and authenticates the client of a token
// request, for every grant. A confidential app must present exactly one
// valid credential: client_secret (body or HTTP Basic) or a jwt-bearer
// client_assertion (or none in the password and device code grants, if
// the app allows public client flows). A public app must present none. For a multi-tenant
// alias ("organizations") the app is looked up in every tenant.
func (s *Server) authenticateClient(q *tokenRequest) (client, *aadError) {
	f := q.form
	secret := f.Get("client_secret")
	assertion, assertionType := f.Get("client_assertion"), f.Get("client_assertion_type")
	clientID := f.Get("client_id")
	basicID, basicSecret, hasBasic := q.r.BasicAuth()
	if hasBasic {
		// RFC 6749 section 2.3.1: both parts are form-urlencoded.
		if v, err := url.QueryUnescape(basicID); err == nil {
			basicID = v
		}
		if v, err := url.QueryUnescape(basicSecret); err == nil {
			basicSecret = v
		}
		if clientID == "" {
			clientID = basicID
		} else if clientID != basicID {
			return client{}, errBadRequest("client_id in the body and in the Authorization header differ.")
		}
	}
	if clientID == "" && assertion != "" {
		// A certificate assertion names its client in iss and sub.
		if t, err := parseJWT(assertion); err == nil {
			if iss := stringClaim(t.claims, "iss"); iss != "" && iss == stringClaim(t.claims, "sub") {
				clientID = iss
			}
		}
	}
	if clientID == "" {
		return client{}, errMissingParameter("client_id")
	}
	infoFrom(q.r.Context()).clientID = clientID

	presented := 0
	for _, p := range []bool{secret != "", hasBasic, assertion != "" || assertionType != ""} {
		if p {
			presented++
		}
	}
	if presented > 1 {
		return client{}, errBadRequest("more than one client authentication method was presented.")
	}

	app, ok := s.findApp(q, clientID)
	if !ok {
		tenant := q.tenantSeg
		if q.tenant != nil {
			tenant = q.tenant.id
		}
		return client{}, errAppNotFound(clientID, tenant)
	}
	if app.Public {
		if presented > 0 {
			return client{}, newError(http.StatusUnauthorized, "invalid_client", 700025,
				"Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
		}
		return client{app: app, method: authNone}, nil
	}
	switch {
	case secret != "":
		return s.checkSecret(app, secret)
	case hasBasic:
		return s.checkSecret(app, basicSecret)
	case assertion != "" || assertionType != "":
		if assertionType == "" {
			return client{}, errMissingParameter("client_assertion_type")
		}
		if assertionType != clientAssertionType {
			return client{}, errBadRequest("client_assertion_type must be '" + clientAssertionType + "'.")
		}
		if assertion == "" {
			return client{}, errMissingParameter("client_assertion")
		}
		method, aerr := s.verifyClientAssertion(q, app, assertion)
		if aerr != nil {
			return client{}, aerr
		}
		return client{app: app, method: method}, nil
	}
	if app.AllowPublicClientFlows && publicClientFlows[q.grant] {
		// "Allow public client flows": the app may act as a public
		// client in the flows a public client can use.
		return client{app: app, method: authNone}, nil
	}
	return client{}, errNoClientCredential()
}

// publicClientFlows are the grants a confidential app with "Allow public
// client flows" may use without a credential: ROPC and device code, and
// the refresh of what they issued.
var publicClientFlows = map[string]bool{"password": true, "device_code": true, "refresh_token": true}

// findApp looks clientID up in the request's tenant, or in every tenant
// for a multi-tenant alias.
func (s *Server) findApp(q *tokenRequest, clientID string) (*appRec, bool) {
	if q.tenant != nil {
		return s.dir.app(q.tenant, clientID)
	}
	return s.dir.appAnyTenant(clientID)
}

// checkSecret compares secret with each of the app's secrets in constant
// time.
func (s *Server) checkSecret(app *appRec, secret string) (client, *aadError) {
	ok := 0
	for _, want := range app.Secrets {
		ok |= subtle.ConstantTimeCompare([]byte(secret), []byte(want))
	}
	if ok != 1 {
		return client{}, newError(http.StatusUnauthorized, "invalid_client", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "+
				"not the client secret ID, for a secret added to app '%s'.", app.ClientID)
	}
	return client{app: app, method: authSecret}, nil
}

func errNoClientCredential() *aadError {
	return newError(http.StatusUnauthorized, "invalid_client", 7000218,
		"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
}
