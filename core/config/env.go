package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Environment variables credhost reads, every CREDHOST_* name in one
// place (the CLI, the fast front, the host and sdk/client read them from
// here). The AZURE_* names are those of azidentity's
// EnvironmentCredential, so a CI set up for the Azure SDKs works
// unchanged. Names read on the plugin side stay with the code that reads
// them, since plugins must not link this package: the plugin protocol's
// (CREDHOST_PLUGIN, CREDHOST_PLUGIN_TLS, CREDHOST_PLUGIN_EXEC_FD,
// CREDHOST_PLUGIN_LOG_LEVEL) in core/plugin, those an assertion command
// is given in internal/clientauth, and managedidentity's test hook.
const (
	// EnvConfig is the config file's path.
	EnvConfig = "CREDHOST_CONFIG"
	// EnvProfile is the profile to use.
	EnvProfile = "CREDHOST_PROFILE"
	// EnvSystemConfig replaces the system file's path. It exists for
	// tests and unusual installs; whoever controls a process's
	// environment controls its policy anyway (they can run another
	// binary), so the policy guards against mistakes and defaults, not
	// against the user.
	EnvSystemConfig = "CREDHOST_SYSTEM_CONFIG"
	// EnvCacheKey holds the cache encryption key (32 bytes: base64, hex or
	// raw). It overrides [cache] key and the key file.
	EnvCacheKey = "CREDHOST_CACHE_KEY"
	// EnvPluginDir names a directory searched for plugins, for the CLI and
	// the sdk alike.
	EnvPluginDir = "CREDHOST_PLUGIN_DIR"
	// EnvLogLevel is the CLI's log level: trace|debug|info|warn|error.
	EnvLogLevel = "CREDHOST_LOG_LEVEL"
	// EnvLogFormat is the CLI's log format: auto|console|json.
	EnvLogFormat = "CREDHOST_LOG_FORMAT"
	// EnvKubernetesExecInfo is what kubectl gives an exec credential
	// plugin: a JSON ExecCredential whose spec.interactive says whether a
	// person can answer a prompt.
	EnvKubernetesExecInfo = "KUBERNETES_EXEC_INFO"
	// EnvCAFile replaces every profile's ca_file: extra roots for HTTPS,
	// added to the system's (SSL_CERT_FILE, read by Go itself, replaces
	// them instead).
	EnvCAFile = "CREDHOST_CA_FILE"

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
	// EnvSendCertificateChain ("1" or "true") sets
	// clientcreds.send_certificate_chain.
	EnvSendCertificateChain = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"
	// EnvUsername and EnvPassword make the profile with no config file
	// sign a user in with ropc, as azidentity's EnvironmentCredential does
	// when no client secret or certificate is set.
	EnvUsername = "AZURE_USERNAME"
	EnvPassword = "AZURE_PASSWORD"
	// EnvAdditionallyAllowedTenants lists (";"-separated, "*" for any) the
	// tenants a request may name besides the profile's own.
	EnvAdditionallyAllowedTenants = "AZURE_ADDITIONALLY_ALLOWED_TENANTS"
	// EnvTokenCredentials picks the members of the default chain, as
	// azidentity's DefaultAzureCredential reads it: "dev", "prod" or one
	// credential name.
	EnvTokenCredentials = "AZURE_TOKEN_CREDENTIALS"
)

// The flow and keys the AZURE_* credential variables set.
const (
	FlowClientCreds           = "clientcreds"
	KeyClientSecret           = "client_secret"
	KeyCertificate            = "certificate"
	KeyCertificatePassword    = "certificate_password"
	KeyFederatedTokenFile     = "federated_token_file"
	KeySendCertificateChain   = "send_certificate_chain"
	FlowROPC                  = "ropc"
	KeyUsername               = "username"
	KeyPassword               = "password"
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
//   - CREDHOST_CA_FILE replaces ca_file (made absolute).
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
//     Only one of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH and
//     AZURE_FEDERATED_TOKEN_FILE applies, the first set in that order (as
//     azidentity's DefaultAzureCredential reads them), and it replaces the
//     way to authenticate the files chose.
//   - AZURE_CLIENT_SEND_CERTIFICATE_CHAIN ("1" or "true") sets
//     clientcreds.send_certificate_chain.
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
	if v := getenv.get(EnvCAFile); v != "" && !keep(p.CAFile) {
		p.CAFile = Value{Raw: absPath(v), Origin: Origin{Env: EnvCAFile}}
	}
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
			p.setEnv(FlowClientCreds, key, raw, name)
		}
	}
	// One way to authenticate, in EnvironmentCredential's order (then
	// workload identity's): it replaces whatever way the files chose, so
	// that a secret and a federated token file set together are not two
	// methods at once.
	var method string
	switch {
	case getenv.get(EnvClientSecret) != "":
		method = KeyClientSecret
		set(KeyClientSecret, "env:"+EnvClientSecret, EnvClientSecret)
	case getenv.get(EnvClientCertificatePath) != "":
		method = KeyCertificate
		set(KeyCertificate, "file:"+absPath(getenv.get(EnvClientCertificatePath)), EnvClientCertificatePath)
	case getenv.get(EnvFederatedTokenFile) != "":
		method = KeyFederatedTokenFile
		set(KeyFederatedTokenFile, absPath(getenv.get(EnvFederatedTokenFile)), EnvFederatedTokenFile)
	}
	// These qualify a certificate, the variables' or a file's.
	if getenv.get(EnvClientCertificatePassword) != "" {
		set(KeyCertificatePassword, "env:"+EnvClientCertificatePassword, EnvClientCertificatePassword)
	}
	if v := getenv.get(EnvSendCertificateChain); v != "" {
		set(KeySendCertificateChain, strconv.FormatBool(v == "1" || strings.EqualFold(v, "true")), EnvSendCertificateChain)
	}
	if method != "" {
		for _, k := range clientAuthMethods {
			if v, ok := p.Flows[FlowClientCreds][k]; ok && k != method && !keep(v) && v.Origin.Env == "" {
				delete(p.Flows[FlowClientCreds], k)
			}
		}
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

// clientAuthMethods are clientcreds' mutually exclusive ways to
// authenticate (internal/clientauth).
var clientAuthMethods = []string{KeyClientSecret, KeyCertificate, "client_assertion", "client_assertion_command", KeyFederatedTokenFile}

// setEnv sets a flow setting from a variable.
func (p *Profile) setEnv(flow, key, raw, name string) {
	if p.Flows == nil {
		p.Flows = map[string]map[string]Value{}
	}
	if p.Flows[flow] == nil {
		p.Flows[flow] = map[string]Value{}
	}
	p.Flows[flow][key] = Value{Raw: raw, Origin: Origin{Env: name}}
}

func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// EnvKind is the credential azidentity's EnvironmentCredential builds
// from the AZURE_* variables.
type EnvKind int

const (
	// EnvSecret is a client secret (AZURE_CLIENT_SECRET): clientcreds.
	EnvSecret EnvKind = iota + 1
	// EnvCertificate is a client certificate
	// (AZURE_CLIENT_CERTIFICATE_PATH): clientcreds.
	EnvCertificate
	// EnvUsernamePassword is a user's password (AZURE_USERNAME,
	// AZURE_PASSWORD): ropc.
	EnvUsernamePassword
)

func (k EnvKind) String() string {
	switch k {
	case EnvSecret:
		return "client secret (" + EnvClientSecret + ")"
	case EnvCertificate:
		return "client certificate (" + EnvClientCertificatePath + ")"
	case EnvUsernamePassword:
		return "username and password (" + EnvUsername + ", " + EnvPassword + ")"
	}
	return "none"
}

// EnvCredential says which credential azidentity's EnvironmentCredential
// would build from the variables, in its order: AZURE_TENANT_ID and
// AZURE_CLIENT_ID, then AZURE_CLIENT_SECRET, else
// AZURE_CLIENT_CERTIFICATE_PATH, else AZURE_USERNAME with AZURE_PASSWORD.
// The error says which variable is missing, in the terms of that
// credential and of workload identity (AZURE_FEDERATED_TOKEN_FILE), the
// default chain's next member.
func EnvCredential(getenv Env) (EnvKind, error) {
	tenant, client := getenv.get(EnvTenantID) != "", getenv.get(EnvClientID) != ""
	switch {
	case !tenant && !client:
		return 0, errors.New(EnvTenantID + " and " + EnvClientID + " are not set")
	case !tenant:
		return 0, errors.New(EnvTenantID + " is not set (" + EnvClientID + " is)")
	case !client:
		return 0, errors.New(EnvClientID + " is not set (" + EnvTenantID + " is)")
	case getenv.get(EnvClientSecret) != "":
		return EnvSecret, nil
	case getenv.get(EnvClientCertificatePath) != "":
		return EnvCertificate, nil
	case getenv.get(EnvUsername) != "":
		if getenv.get(EnvPassword) == "" {
			return 0, errors.New(EnvUsername + " is set but " + EnvPassword + " is not")
		}
		return EnvUsernamePassword, nil
	}
	msg := EnvTenantID + " and " + EnvClientID + " are set, but no credential: set " +
		EnvClientSecret + ", " + EnvClientCertificatePath + ", or " + EnvUsername + " and " + EnvPassword
	if getenv.get(EnvFederatedTokenFile) != "" {
		msg += " (" + EnvFederatedTokenFile + " is set: workload identity uses it)"
	} else {
		msg += ", or " + EnvFederatedTokenFile + " for workload identity"
	}
	return 0, errors.New(msg)
}

// workloadIdentity says whether azidentity's WorkloadIdentityCredential
// can be built from the variables, and if not, why.
func workloadIdentity(getenv Env) error {
	var missing []string
	for _, n := range []string{EnvTenantID, EnvClientID, EnvFederatedTokenFile} {
		if getenv.get(n) == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, ", ") + " not set")
	}
	return nil
}
