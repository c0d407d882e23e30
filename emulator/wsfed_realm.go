package emulator

import (
	"net/http"
	"strings"
)

// handleUserRealm serves GET /common/UserRealm/{user}?api-version=1.0,
// which MSAL calls before a username/password sign-in: is the user's
// domain Managed (Entra ID checks the password), Federated (a WS-Trust
// server does; the answer names its MEX document, here the emulator's
// own) or Unknown.
func (s *Server) handleUserRealm(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	_, domain, _ := strings.Cut(user, "@")
	body := map[string]string{
		"ver":                 "1.0",
		"account_type":        "Unknown",
		"domain_name":         strings.ToLower(domain),
		"cloud_instance_name": "microsoftonline.com",
		"cloud_audience_urn":  cloudAudienceURN,
	}
	if domain != "" {
		body["account_type"] = s.dir.domainKind(domain)
	}
	if body["account_type"] == "Federated" {
		fh := s.federationHost(s.publicHost(r))
		body["federation_protocol"] = "WSTrust"
		body["federation_metadata_url"] = "https://" + fh + mexPath
		body["federation_active_auth_url"] = "https://" + fh + "/adfs/services/trust/2005/usernamemixed"
	}
	writeJSON(w, http.StatusOK, body)
}
