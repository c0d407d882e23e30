package emulator

import (
	"strings"
)

// v1 access tokens: Entra ID issues tokens in the format the resource
// accepts (its manifest's accessTokenAcceptedVersion), not the one the
// endpoint was called with, so a v2.0 token request for a first-party
// resource such as Azure Storage gets a v1.0 token. Resource servers of
// that kind check v1 claims: Azurite's OAuth mode, for one, wants an "iss"
// starting with "https://sts.windows.net/". Options.V1Resources lists the
// resources the emulator treats that way.

// v1IssuerPrefix is the v1.0 issuer of the public cloud, followed by the
// tenant GUID and "/". Emulator tokens carry it only for V1Resources; their
// signature still ties them to this emulator's key.
const v1IssuerPrefix = "https://sts.windows.net/"

// v1IssuerURL is the v1.0 issuer of tenantID.
func v1IssuerURL(tenantID string) string { return v1IssuerPrefix + tenantID + "/" }

// isV1Resource reports whether tokens for resource (an "aud") are v1.0:
// it is one of Options.V1Resources, compared without case and a trailing
// slash, as Entra ID matches identifier URIs.
func (s *Server) isV1Resource(resource string) bool {
	r := strings.TrimSuffix(resource, "/")
	for _, v := range s.opts.V1Resources {
		if strings.EqualFold(r, strings.TrimSuffix(v, "/")) {
			return true
		}
	}
	return false
}

// signAccessToken signs access token claims, first rewriting them into
// the v1.0 shape if their audience is a V1Resource.
func (s *Server) signAccessToken(claims map[string]any) (string, error) {
	if aud, _ := claims["aud"].(string); s.isV1Resource(aud) {
		toV1Claims(claims)
	}
	return s.signToken(claims)
}

// toV1Claims rewrites v2.0 access token claims in place into those of a
// v1.0 token: the v1 issuer, "ver" 1.0, "appidacr" for "azpacr" (v1 names
// the client by "appid", which v2 tokens of the emulator carry too), "idp"
// on app-only tokens and "unique_name" instead of "preferred_username".
func toV1Claims(c map[string]any) {
	tid, _ := c["tid"].(string)
	c["iss"] = v1IssuerURL(tid)
	c["ver"] = "1.0"
	if acr, ok := c["azpacr"]; ok {
		c["appidacr"] = acr
	}
	delete(c, "azp")
	delete(c, "azpacr")
	if c["idtyp"] == "app" {
		c["idp"] = v1IssuerURL(tid)
	}
	if u, ok := c["preferred_username"]; ok {
		c["unique_name"] = u
		delete(c, "preferred_username")
	}
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
