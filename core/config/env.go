package config

import (
	"os"
	"path/filepath"
	"strings"
)

// Environment variables credhost reads. The AZURE_* names are those of
// azidentity's EnvironmentCredential, so a CI set up for the Azure SDKs
// works unchanged.
const (
	// EnvConfig is the config file's path.
	EnvConfig = "CREDHOST_CONFIG"
	// EnvProfile is the profile to use.
	EnvProfile = "CREDHOST_PROFILE"

	// EnvTenantID replaces the tenant of every profile's authority.
	EnvTenantID = "AZURE_TENANT_ID"
	// EnvClientID replaces every profile's client_id.
	EnvClientID = "AZURE_CLIENT_ID"
	// EnvAuthorityHost replaces the scheme and host of every profile's
	// authority (e.g. https://login.microsoftonline.us for a sovereign
	// cloud).
	EnvAuthorityHost = "AZURE_AUTHORITY_HOST"
	// EnvClientSecret sets clientcreds.client_secret.
	EnvClientSecret = "AZURE_CLIENT_SECRET"
	// EnvClientCertificatePath sets clientcreds.certificate (PEM or PFX).
	EnvClientCertificatePath = "AZURE_CLIENT_CERTIFICATE_PATH"
	// EnvClientCertificatePassword sets clientcreds.certificate_password.
	EnvClientCertificatePassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	// EnvFederatedTokenFile sets clientcreds.federated_token_file (workload
	// identity).
	EnvFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
)

// The flow and keys the AZURE_* credential variables set.
const (
	FlowClientCreds           = "clientcreds"
	KeyClientSecret           = "client_secret"
	KeyCertificate            = "certificate"
	KeyCertificatePassword    = "certificate_password"
	KeyFederatedTokenFile     = "federated_token_file"
	envProfileName            = "env"
	envProfileOriginVariables = EnvTenantID + ", " + EnvClientID
)

// Env looks up an environment variable: os.Getenv in production, a map
// lookup in tests. A nil Env means os.Getenv. An empty value counts as
// unset.
type Env func(string) string

func (e Env) get(name string) string {
	if e == nil {
		return os.Getenv(name)
	}
	return e(name)
}

// ApplyEnv overrides the profile's settings with the AZURE_* variables
// that are set (non-empty), as azidentity's EnvironmentCredential reads
// them; each overridden Value's Origin names its variable.
//
//   - AZURE_CLIENT_ID replaces client_id.
//   - AZURE_TENANT_ID replaces the authority's tenant, AZURE_AUTHORITY_HOST
//     its scheme and host (an authority is built on
//     https://login.microsoftonline.com if the profile has none).
//   - AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PASSWORD set
//     clientcreds.client_secret and clientcreds.certificate_password to
//     env: references, so the secret itself never sits in the Profile.
//   - AZURE_CLIENT_CERTIFICATE_PATH sets clientcreds.certificate to
//     "file:<absolute path>", and AZURE_FEDERATED_TOKEN_FILE sets
//     clientcreds.federated_token_file to the absolute path (relative
//     paths are taken from the working directory, not the config file's).
//
// The credential variables (secret, certificate, its password, the
// federated token file) are not applied to a profile only a project file
// defines (Layer == LayerProject).
//
// Overrides always apply. If a variable makes a setting invalid (an
// AZURE_AUTHORITY_HOST that is not an https URL, a malformed tenant), the
// returned Errors say so, placed at the variable; callers should not go
// on with the profile then.
func (p *Profile) ApplyEnv(getenv Env) error { return p.applyEnv(getenv, false) }

// applyEnv is ApplyEnv; with keepFlags, values a flag set stay, since
// flags are the layer above the environment.
func (p *Profile) applyEnv(getenv Env, keepFlags bool) error {
	keep := func(v Value) bool { return keepFlags && v.Origin.Flag != "" }
	if v := getenv.get(EnvClientID); v != "" && !keep(p.ClientID) {
		p.ClientID = Value{Raw: v, Origin: Origin{Env: EnvClientID}}
	}
	host, tenant := getenv.get(EnvAuthorityHost), getenv.get(EnvTenantID)
	var names []string
	if host != "" {
		names = append(names, EnvAuthorityHost)
	}
	if tenant != "" {
		names = append(names, EnvTenantID)
	}
	if names != nil && !keep(p.Authority) {
		p.Authority = Value{
			Raw:    rewriteAuthority(p.Authority.Raw, host, tenant),
			Origin: Origin{Env: strings.Join(names, ", ")},
		}
	}
	if p.Layer == LayerProject {
		// The profile is a project file's: its authority is the
		// project's choice, and a credential of the environment must
		// never be sent there.
		return p.checkEnvAuthority()
	}
	set := func(key, raw, name string) {
		if !keep(p.Flows[FlowClientCreds][key]) {
			p.setEnv(key, raw, name)
		}
	}
	if getenv.get(EnvClientSecret) != "" {
		set(KeyClientSecret, "env:"+EnvClientSecret, EnvClientSecret)
	}
	if v := getenv.get(EnvClientCertificatePath); v != "" {
		set(KeyCertificate, "file:"+absPath(v), EnvClientCertificatePath)
	}
	if getenv.get(EnvClientCertificatePassword) != "" {
		set(KeyCertificatePassword, "env:"+EnvClientCertificatePassword, EnvClientCertificatePassword)
	}
	if v := getenv.get(EnvFederatedTokenFile); v != "" {
		set(KeyFederatedTokenFile, absPath(v), EnvFederatedTokenFile)
	}
	return p.checkEnvAuthority()
}

// checkEnvAuthority checks an authority the variables rewrote.
func (p *Profile) checkEnvAuthority() error {
	probs := &problems{}
	c := checker{probs: probs, table: []string{"profiles", p.Name}}
	if p.Authority.Origin.Env != "" {
		c.authority(p.Authority.Raw, p.Authority.Origin)
	}
	return probs.err()
}

// setEnv sets a clientcreds setting from a variable.
func (p *Profile) setEnv(key, raw, name string) {
	if p.Flows == nil {
		p.Flows = map[string]map[string]Value{}
	}
	if p.Flows[FlowClientCreds] == nil {
		p.Flows[FlowClientCreds] = map[string]Value{}
	}
	p.Flows[FlowClientCreds][key] = Value{Raw: raw, Origin: Origin{Env: name}}
}

func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// FromEnv returns a profile named "env" defined entirely by the AZURE_*
// variables, for machines with no config file (CI, containers): it needs
// AZURE_TENANT_ID, AZURE_CLIENT_ID and one of AZURE_CLIENT_SECRET,
// AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE, and its
// chain is ["clientcreds"]. It returns false if they are not all set.
// Malformed variables are not rejected here: call Validate on the result.
func FromEnv(getenv Env) (*Profile, bool) {
	if getenv.get(EnvTenantID) == "" || getenv.get(EnvClientID) == "" {
		return nil, false
	}
	if getenv.get(EnvClientSecret) == "" && getenv.get(EnvClientCertificatePath) == "" && getenv.get(EnvFederatedTokenFile) == "" {
		return nil, false
	}
	o := Origin{Env: envProfileOriginVariables}
	p := &Profile{
		Name:           envProfileName,
		Layer:          LayerEnv,
		Origin:         o,
		Chain:          []string{FlowClientCreds},
		ChainOrigin:    o,
		RememberWinner: true,
		Flows:          map[string]map[string]Value{},
		FlowOrigins:    map[string]Origin{FlowClientCreds: o},
	}
	_ = p.ApplyEnv(getenv) // Validate reports the same problems
	return p, true
}
