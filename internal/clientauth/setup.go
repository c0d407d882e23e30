package clientauth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/authority"
	"github.com/credhost/credhost/internal/httpclient"
)

// MultiTenants name no single tenant (authority.MultiTenants). The
// app-identity grants (client credentials, on-behalf-of) act in one
// tenant, so they refuse these authorities.
var MultiTenants = authority.MultiTenants()

// Setup is the Configure of a confidential-client flow that acts in one
// tenant: it checks the common settings and the authority (grant names the
// grant in the message, e.g. "on-behalf-of"), loads the credential and
// builds the HTTP client, collecting every problem in one
// *core.ConfigError of flow. No network I/O.
func Setup(flow, grant string, cfg core.FlowConfig) (confidential.Credential, *http.Client, error) {
	ce := &core.ConfigError{Flow: flow}
	CheckCommon(cfg, ce)
	if t := strings.ToLower(authority.Tenant(cfg.Authority)); authority.IsMultiTenant(t) {
		ce.Add("authority", "%s needs a specific tenant (tenant id or domain), not %q", grant, t)
	}
	cred, err := Load(cfg)
	if err != nil {
		var lce *core.ConfigError
		if !errors.As(err, &lce) {
			return confidential.Credential{}, nil, err
		}
		ce.Fields = append(ce.Fields, lce.Fields...)
	}
	hc, err := httpclient.New(cfg.CACertificates)
	if err != nil {
		ce.Add("ca_file", "%v", err)
	}
	if err := ce.OrNil(); err != nil {
		return confidential.Credential{}, nil, err
	}
	return cred, hc, nil
}

// NotConfigured is what a confidential flow that has no credential yet
// answers: Unavailable, naming the settings that would configure it.
func NotConfigured(flow string) *core.Error {
	return core.Unavailable(flow, "not configured: set one of client_secret, certificate, client_assertion, client_assertion_command or federated_token_file")
}
