// Package clientauth turns a profile's settings into the MSAL credential a
// confidential client authenticates with. It is the one place that knows the
// client-authentication options (client_secret, certificate,
// client_assertion, client_assertion_command, federated_token_file), so that
// every confidential flow (clientcreds, authcode for web apps, obo) reads
// them the same way.
package clientauth

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/authority"
)

// Option keys of the client-authentication settings.
const (
	OptClientSecret           = "client_secret"
	OptCertificate            = "certificate"
	OptCertificatePassword    = "certificate_password"
	OptSendCertificateChain   = "send_certificate_chain"
	OptClientAssertion        = "client_assertion"
	OptClientAssertionCommand = "client_assertion_command"
	OptFederatedTokenFile     = "federated_token_file"
)

// methods are the mutually exclusive ways to authenticate, in the order
// errors list them.
var methods = []string{
	OptClientSecret,
	OptCertificate,
	OptClientAssertion,
	OptClientAssertionCommand,
	OptFederatedTokenFile,
}

// secretOptions are delivered in FlowConfig.Secrets; all others in Options.
var secretOptions = map[string]bool{
	OptClientSecret:        true,
	OptCertificate:         true,
	OptCertificatePassword: true,
	OptClientAssertion:     true,
}

// Options describes the client-authentication settings. Exactly one of
// client_secret, certificate, client_assertion, client_assertion_command and
// federated_token_file must be set. Each call returns a fresh slice.
func Options() []core.OptionSpec {
	return []core.OptionSpec{
		{Name: OptClientSecret, Secret: true,
			Help: "client secret of the app registration (use env:NAME or file:PATH rather than inline)"},
		{Name: OptCertificate, Secret: true,
			Help: "client certificate with its private key: PEM (certificate chain plus an unencrypted PKCS#1 or PKCS#8 RSA key) or PFX/PKCS#12; usually file:PATH"},
		{Name: OptCertificatePassword, Secret: true,
			Help: "password of a PFX/PKCS#12 certificate"},
		{Name: OptSendCertificateChain,
			Help: `"true" to send the certificate chain (x5c) for subject name/issuer authentication; default "false"`},
		{Name: OptClientAssertion, Secret: true,
			Help: "a signed client assertion (JWT) to present instead of a secret; it must stay valid for as long as the process runs"},
		{Name: OptClientAssertionCommand,
			Help: "command line run through the shell (sh -c, cmd /C on Windows) whenever an assertion is needed; it prints the JWT on stdout and has 30s; CREDHOST_CLIENT_ID and CREDHOST_TOKEN_ENDPOINT are set for it"},
		{Name: OptFederatedTokenFile,
			Help: "path of a federated token (workload identity, e.g. AZURE_FEDERATED_TOKEN_FILE), re-read on every acquisition because it rotates"},
	}
}

// Configured reports whether cfg sets any client-authentication method. A
// flow for which client authentication is optional uses it to choose
// between a public and a confidential client.
func Configured(cfg core.FlowConfig) bool {
	for _, m := range methods {
		if value(cfg, m) != "" {
			return true
		}
	}
	return false
}

// Load validates the client-authentication settings in cfg and returns the
// MSAL credential they describe. It does no network I/O and does not run
// the assertion command or read the federated token file (both happen on
// every acquisition). Problems are returned as a *core.ConfigError whose
// Flow is empty (the caller sets it); its text never holds a secret, key
// or assertion.
func Load(cfg core.FlowConfig) (confidential.Credential, error) {
	ce := &core.ConfigError{}
	cred, ok := load(cfg, ce)
	if err := ce.OrNil(); err != nil || !ok {
		return confidential.Credential{}, err
	}
	return cred, nil
}

func load(cfg core.FlowConfig, ce *core.ConfigError) (confidential.Credential, bool) {
	// A secret setting that arrived as a plain option (or the reverse) is a
	// host or profile mistake; name it rather than guessing.
	for k := range cfg.Options {
		if secretOptions[k] {
			ce.Add(k, "is a secret setting and must not be passed as a plain option")
		}
	}
	for k := range cfg.Secrets {
		if isOwnOption(k) && !secretOptions[k] {
			ce.Add(k, "is a plain setting and must not be passed as a secret")
		}
	}

	var set, empty []string
	for _, m := range methods {
		if value(cfg, m) != "" {
			set = append(set, m)
		} else if present(cfg, m) {
			empty = append(empty, m)
		}
	}
	switch len(set) {
	case 0:
		msg := "set exactly one of " + strings.Join(methods, ", ")
		if len(empty) > 0 {
			msg += " (" + strings.Join(empty, ", ") + " is empty)"
		}
		ce.Add(strings.Join(methods, "|"), "%s", msg)
		return confidential.Credential{}, false
	case 1:
	default:
		for _, m := range set {
			ce.Add(m, "conflicts with %s: set only one of %s", strings.Join(others(set, m), ", "), strings.Join(methods, ", "))
		}
		return confidential.Credential{}, false
	}

	method := set[0]
	if method != OptCertificate {
		if present(cfg, OptCertificatePassword) {
			ce.Add(OptCertificatePassword, "applies only to certificate, which is not set")
		}
		if present(cfg, OptSendCertificateChain) {
			ce.Add(OptSendCertificateChain, "applies only to certificate, which is not set")
		}
	}
	if _, err := SendCertificateChain(cfg); err != nil {
		ce.Add(OptSendCertificateChain, "%v", err)
	}

	switch method {
	case OptClientSecret:
		cred, err := confidential.NewCredFromSecret(cfg.Secrets[OptClientSecret].Reveal())
		if err != nil {
			ce.Add(OptClientSecret, "is not usable")
			return cred, false
		}
		return cred, true
	case OptCertificate:
		return loadCertificate(cfg, ce)
	case OptClientAssertion:
		a := strings.TrimSpace(cfg.Secrets[OptClientAssertion].Reveal())
		if err := checkJWT(a); err != nil {
			ce.Add(OptClientAssertion, "%v", err)
			return confidential.Credential{}, false
		}
		return confidential.NewCredFromAssertionCallback(LiteralAssertion(core.NewSecret(a))), true
	case OptClientAssertionCommand:
		return confidential.NewCredFromAssertionCallback(CommandAssertion(value(cfg, OptClientAssertionCommand))), true
	case OptFederatedTokenFile:
		return confidential.NewCredFromAssertionCallback(FileAssertion(value(cfg, OptFederatedTokenFile))), true
	}
	return confidential.Credential{}, false
}

// SendCertificateChain reports whether cfg asks to send the certificate
// chain (x5c) with certificate assertions, for subject name/issuer
// authentication. An unset option is false.
func SendCertificateChain(cfg core.FlowConfig) (bool, error) {
	v := strings.TrimSpace(cfg.Options[OptSendCertificateChain])
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf(`must be "true" or "false", not %q`, v)
	}
	return b, nil
}

// CheckCommon adds to ce the problems with the settings every confidential
// flow needs: client_id, and an authority that is an https URL with a
// tenant segment.
func CheckCommon(cfg core.FlowConfig, ce *core.ConfigError) {
	if strings.TrimSpace(cfg.ClientID) == "" {
		ce.Add("client_id", "is required")
	}
	if err := CheckAuthority(cfg.Authority); err != nil {
		ce.Add("authority", "%v", err)
	}
}

// CheckAuthority validates an authority URL such as
// "https://login.microsoftonline.com/<tenant>" without touching the
// network (authority.Parse).
func CheckAuthority(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return fmt.Errorf("is required, e.g. https://login.microsoftonline.com/<tenant>")
	}
	_, err := authority.Parse(raw)
	return err
}

// value returns the trimmed setting from Secrets or Options.
func value(cfg core.FlowConfig, key string) string {
	if secretOptions[key] {
		return strings.TrimSpace(cfg.Secrets[key].Reveal())
	}
	return strings.TrimSpace(cfg.Options[key])
}

// present reports whether key is present at all, even if empty.
func present(cfg core.FlowConfig, key string) bool {
	if secretOptions[key] {
		_, ok := cfg.Secrets[key]
		return ok
	}
	_, ok := cfg.Options[key]
	return ok
}

func others(set []string, m string) []string {
	var out []string
	for _, s := range set {
		if s != m {
			out = append(out, s)
		}
	}
	return out
}

func isOwnOption(k string) bool {
	for _, o := range Options() {
		if o.Name == k {
			return true
		}
	}
	return false
}
