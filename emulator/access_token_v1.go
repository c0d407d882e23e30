package emulator

import (
	"strings"
	"time"
)

// Access token shapes. Entra ID issues a token in the format the resource
// accepts (its manifest's accessTokenAcceptedVersion), not the one of the
// endpoint it was asked at, so a v2.0 token request for a first-party
// resource such as Azure Storage gets a v1.0 token. The two formats differ
// in issuer, audience form and claim names; docs/emulator.md lists them
// claim by claim.

// v1IssuerPrefix is the v1.0 issuer of the public cloud, followed by the
// tenant GUID and "/". Emulator tokens carry it for v1.0 resources; their
// signature still ties them to this emulator's key.
const v1IssuerPrefix = "https://sts.windows.net/"

// v1IssuerURL is the v1.0 issuer of tenantID.
func v1IssuerURL(tenantID string) string { return v1IssuerPrefix + tenantID + "/" }

// accessToken is what goes into one access token; mintAccessToken shapes
// it per version.
type accessToken struct {
	host     string // public host of the request, for the v2.0 issuer
	tenantID string
	res      *resourceGrant
	// clientID is the client app; azpacr how it authenticated ("0"
	// public, "1" secret, "2" certificate or assertion).
	clientID string
	azpacr   string
	// appOID is the client's service principal object id; for app-only
	// tokens it is "oid" and "sub".
	appOID string
	// user is nil for app-only tokens.
	user  *userRec
	scp   string
	roles []string
	// extra claims, e.g. "xms_mirid" or "xms_cc"-driven ones.
	extra map[string]any
}

// mintAccessToken signs the access token described by at.
func (s *Server) mintAccessToken(at accessToken) (string, error) {
	return s.mintAccessTokenAt(s.now(), s.opts.TokenLifetime, at)
}

// mintAccessTokenAt is mintAccessToken issued at now for lifetime.
func (s *Server) mintAccessTokenAt(now time.Time, lifetime time.Duration, at accessToken) (string, error) {
	tid := at.tenantID
	c := map[string]any{
		"aud": at.res.aud(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(lifetime).Unix(),
		"tid": tid,
		"aio": randomToken(48),
		"rh":  "0." + randomToken(36) + ".",
		"uti": newUTI(),
	}
	if at.user != nil {
		name := at.user.DisplayName
		if name == "" {
			name = at.user.Username
		}
		c["oid"] = at.user.ObjectID
		c["sub"] = stableGUID("sub", at.user.ObjectID, strings.ToLower(at.clientID))
		c["name"] = name
		c["scp"] = at.scp
		c["idtyp"] = "user"
	} else {
		c["oid"] = at.appOID
		c["sub"] = at.appOID
		c["idtyp"] = "app"
		if len(at.roles) > 0 {
			c["roles"] = at.roles
		}
	}
	if at.res.v1 {
		c["iss"] = v1IssuerURL(tid)
		c["ver"] = "1.0"
		c["appid"] = at.clientID
		c["appidacr"] = at.azpacr
		if at.user != nil {
			c["upn"] = at.user.Username
			c["unique_name"] = at.user.Username
			c["amr"] = []string{"pwd"}
			c["acr"] = "1"
		} else {
			c["idp"] = v1IssuerURL(tid)
		}
	} else {
		c["iss"] = issuerURL(at.host, tid)
		c["ver"] = "2.0"
		c["azp"] = at.clientID
		c["azpacr"] = at.azpacr
		if at.user != nil {
			c["preferred_username"] = at.user.Username
		}
	}
	for k, v := range at.extra {
		c[k] = v
	}
	return s.signToken(c)
}

// v1IssuerTenant returns the tenant GUID of a v1.0 issuer, if iss is one.
func v1IssuerTenant(iss string) (string, bool) {
	rest, ok := strings.CutPrefix(iss, v1IssuerPrefix)
	if !ok {
		return "", false
	}
	tid, ok := strings.CutSuffix(rest, "/")
	return tid, ok && tid != "" && !strings.Contains(tid, "/")
}
