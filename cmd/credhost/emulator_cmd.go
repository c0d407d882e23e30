package main

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/cmd/credhost/internal/cliflags"
	"github.com/credhost/credhost/emulator"
)

// emulatorCmd runs the Entra ID emulator until interrupted, or, as
// `credhost emulator token --federated`, asks a running one for a
// workload identity token.
type emulatorCmd struct {
	addr     string
	caFile   string
	tenants  string
	urlFile  string
	latency  time.Duration
	faults   []string
	lifetime time.Duration
	// The directory: strictness, token versions, credentials.
	lenient          bool
	v1Resources      []string
	v2Resources      []string
	appCertificates  []string
	publicFlows      []string
	federatedCreds   []string
	sans             []string
	printEnv         bool
	deviceCodeExpiry time.Duration
	// User sign-ins (device code, interactive) for demos.
	autoSignIn     string
	autoApprove    time.Duration
	deviceInterval time.Duration
	// Federation (AD FS lookalike) for IWA and federated ROPC.
	federationHost string
	keytab         string
	spn            string
	federatedUsers []string
	// `token` subcommand.
	federated bool
	subject   string
	audience  string
	url       string
}

func (c *emulatorCmd) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address (loopback; port 0 picks a free one)")
	fs.StringVar(&c.caFile, "ca-file", "credhost-emulator-ca.pem", "where to write the emulator's CA certificate (PEM), for clients to trust (token: the CA to trust)")
	fs.StringVar(&c.tenants, "tenants", "", "JSON file of tenants, apps, resources and users (default: a demo tenant; see docs/emulator.md)")
	fs.StringVar(&c.urlFile, "url-file", "", "write the emulator's base URL to this file (0600, atomically) once it is ready, last of all files and output (token: read it from there)")
	fs.DurationVar(&c.latency, "latency", 0, "add this latency to every request")
	fs.StringArrayVar(&c.faults, "fault", nil, "inject a fault, e.g. endpoint=token,status=429,retry-after=3,times=2 (repeatable; keys: endpoint, status, retry-after, latency, drop, times)")
	fs.DurationVar(&c.lifetime, "token-lifetime", time.Hour, "lifetime of issued access tokens")
	fs.BoolVar(&c.lenient, "lenient", false, "register unknown resources on first use and consent to everything (Entra ID answers AADSTS500011 and AADSTS65001)")
	fs.StringArrayVar(&c.v1Resources, "v1-resource", nil, "issue v1.0 tokens for this resource (identifier URI or client id; registered as an API if the tenant lacks it; repeatable)")
	fs.StringArrayVar(&c.v2Resources, "v2-resource", nil, "issue v2.0 tokens for this resource (registered as an API if the tenant lacks it; repeatable)")
	fs.StringArrayVar(&c.appCertificates, "app-certificate", nil, "CLIENT_ID=FILE: register the PEM certificate(s) in FILE on an app (repeatable)")
	fs.StringArrayVar(&c.publicFlows, "allow-public-client-flows", nil, "CLIENT_ID: let this confidential app use ROPC and device code without a credential (repeatable)")
	fs.StringArrayVar(&c.federatedCreds, "federated-credential", nil, "CLIENT_ID=SUBJECT: trust workload tokens of the emulator's issuer for SUBJECT on an app (repeatable)")
	fs.StringArrayVar(&c.sans, "san", nil, "extra DNS name or IP for the server certificate (repeatable)")
	fs.BoolVar(&c.printEnv, "print-env", false, "print ready AZURE_* (and SSL_CERT_FILE) exports on stdout once listening")
	fs.DurationVar(&c.deviceCodeExpiry, "device-code-lifetime", emulator.DefaultDeviceCodeLifetime, "how long a device code can be redeemed")
	fs.StringVar(&c.autoSignIn, "auto-sign-in", "", "sign this user in without a password on the sign-in pages (demos, browser tests)")
	fs.DurationVar(&c.autoApprove, "auto-approve-after", 0, "approve every device code this long after it is issued, as --auto-sign-in (default: "+emulator.DefaultUsername+")")
	fs.DurationVar(&c.deviceInterval, "device-code-interval", emulator.DefaultDeviceCodeInterval, "polling interval device codes ask for (whole seconds)")
	fs.StringVar(&c.federationHost, "federation-host", "", "host name of the AD FS lookalike in user realm and MEX answers (e.g. localhost; default: the request's host)")
	fs.StringVar(&c.keytab, "kerberos-keytab", "", "keytab with the key of the windowstransport service principal (IWA)")
	fs.StringVar(&c.spn, "kerberos-spn", "", "service principal of windowstransport (default HTTP/<federation host>)")
	fs.StringArrayVar(&c.federatedUsers, "federated-user", nil, "add a federated user (user@domain; its Kerberos principal is user@DOMAIN) to the first tenant (repeatable)")
	fs.BoolVar(&c.federated, "federated", false, "token: mint a workload identity (federated) token")
	fs.StringVar(&c.subject, "subject", "", "token: the token's subject, e.g. system:serviceaccount:ns:name")
	fs.StringVar(&c.audience, "audience", "", "token: the token's audience (default "+emulator.DefaultFederatedAudience+")")
	fs.StringVar(&c.url, "url", "", "token: the running emulator's base URL (default: read --url-file)")
}

func (c *emulatorCmd) validate(*globals) error {
	for _, f := range c.faults {
		if _, err := parseFault(f); err != nil {
			return usageError{err}
		}
	}
	return nil
}

func (c *emulatorCmd) run(ctx context.Context, _ *globals, e *env, args []string) error {
	switch {
	case len(args) == 1 && args[0] == "token":
		return c.token(ctx, e)
	case len(args) > 0:
		return usageError{fmt.Errorf("unexpected %q: say `credhost emulator` or `credhost emulator token --federated --subject SUB`", strings.Join(args, " "))}
	}
	cfg, err := c.config()
	if err != nil {
		return usageError{err}
	}
	if c.autoApprove > 0 && c.autoSignIn == "" && c.tenants == "" {
		c.autoSignIn = emulator.DefaultUsername
	}
	srv, err := emulator.New(emulator.Options{Addr: c.addr, CAFile: c.caFile, Config: cfg, TokenLifetime: c.lifetime, Logger: e.log,
		AutoSignIn: c.autoSignIn, AutoApproveAfter: c.autoApprove, DeviceCodeInterval: c.deviceInterval, DeviceCodeLifetime: c.deviceCodeExpiry,
		Hostnames: c.sans, V1Resources: c.v1Resources, V2Resources: c.v2Resources,
		FederationHost: c.federationHost, KerberosKeytab: c.keytab, KerberosSPN: c.spn})
	if err != nil {
		return err
	}
	if c.latency > 0 {
		srv.InjectFault(emulator.Fault{Latency: c.latency})
	}
	for _, spec := range c.faults {
		f, _ := parseFault(spec)
		srv.InjectFault(f)
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(e.stderr, "credhost emulator listening on %s (CA certificate: %s); Ctrl-C stops it\n", srv.URL(), c.caFile)
	printIdentities(e.stderr, srv, cfg)
	if c.printEnv {
		if err := printEnv(e.stdout, srv, cfg, c.caFile); err != nil {
			return err
		}
	}
	// The URL file is the readiness signal scripts wait for (`until [ -s
	// url ]`), so it comes last, after the CA file and the --print-env
	// lines, and appears whole (renamed into place, 0600 like serve's env
	// file).
	if c.urlFile != "" {
		if err := writePrivate(c.urlFile, srv.URL()+"\n"); err != nil {
			return fmt.Errorf("--url-file: %w", err)
		}
	}
	<-ctx.Done()
	return nil
}

// config builds the directory from --tenants (or the demo tenant) and the
// flags that amend it.
func (c *emulatorCmd) config() (emulator.Config, error) {
	cfg := emulator.DefaultConfig()
	if c.tenants != "" {
		var err error
		if cfg, err = emulator.LoadConfig(c.tenants); err != nil {
			return cfg, err
		}
	}
	if len(cfg.Tenants) == 0 {
		return cfg, errors.New("the tenants file has no tenants")
	}
	for i := range cfg.Tenants {
		// The demo tenant is lenient for in-process tests; the command
		// behaves like Entra ID unless told otherwise. A tenants file
		// says what it wants.
		if c.lenient {
			cfg.Tenants[i].AutoRegisterResources, cfg.Tenants[i].AutoConsent = true, true
		} else if c.tenants == "" {
			cfg.Tenants[i].AutoRegisterResources, cfg.Tenants[i].AutoConsent = false, false
		}
	}
	for _, u := range c.federatedUsers {
		if !strings.Contains(u, "@") {
			return cfg, fmt.Errorf("--federated-user %q: give user@domain", u)
		}
		cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, emulator.User{Username: u, Password: "unused: signs in with Kerberos", Federated: true})
	}
	for _, spec := range c.appCertificates {
		id, file, _ := strings.Cut(spec, "=")
		app, err := findApp(&cfg, "--app-certificate", id)
		if err != nil {
			return cfg, err
		}
		b, err := os.ReadFile(file)
		if err != nil || file == "" {
			return cfg, fmt.Errorf("--app-certificate %q: give CLIENT_ID=FILE with a readable PEM file: %v", spec, err)
		}
		app.Certificates = append(app.Certificates, string(b))
	}
	for _, id := range c.publicFlows {
		app, err := findApp(&cfg, "--allow-public-client-flows", id)
		if err != nil {
			return cfg, err
		}
		app.AllowPublicClientFlows = true
	}
	for _, spec := range c.federatedCreds {
		id, sub, _ := strings.Cut(spec, "=")
		app, err := findApp(&cfg, "--federated-credential", id)
		if err != nil {
			return cfg, err
		}
		if sub == "" {
			return cfg, fmt.Errorf("--federated-credential %q: give CLIENT_ID=SUBJECT", spec)
		}
		app.FederatedCredentials = append(app.FederatedCredentials, emulator.FederatedCredential{Subject: sub})
	}
	return cfg, nil
}

// findApp finds the app with client id id in any tenant of cfg.
func findApp(cfg *emulator.Config, flag, id string) (*emulator.App, error) {
	for i := range cfg.Tenants {
		for j := range cfg.Tenants[i].Apps {
			if a := &cfg.Tenants[i].Apps[j]; strings.EqualFold(a.ClientID, id) {
				return a, nil
			}
		}
	}
	return nil, fmt.Errorf("%s: no app with client id %q in the directory", flag, id)
}

// printIdentities writes the directory's test identities: what a test
// needs to sign in (client ids, secrets, certificate thumbprints, users
// and passwords) and which resources exist in which token version.
func printIdentities(w io.Writer, srv *emulator.Server, cfg emulator.Config) {
	for _, t := range cfg.Tenants {
		fmt.Fprintf(w, "  tenant %s (%s): authority %s", t.ID, t.Domain, srv.Authority(t.ID))
		if t.AutoRegisterResources || t.AutoConsent {
			fmt.Fprint(w, " [lenient: unknown resources registered on first use, everything consented]")
		}
		fmt.Fprintln(w)
		for _, a := range t.Apps {
			kind := "confidential app"
			switch {
			case a.Public:
				kind = "public client"
			case len(a.Secrets) == 0 && len(a.Certificates) == 0 && len(a.FederatedCredentials) == 0:
				kind = "web API"
			}
			fmt.Fprintf(w, "    %s %q client id %s", kind, a.Name, a.ClientID)
			for _, s := range a.Secrets {
				fmt.Fprintf(w, ", secret %s", s)
			}
			for _, p := range a.Certificates {
				for _, tp := range thumbprints(p) {
					fmt.Fprintf(w, ", certificate thumbprint %s", tp)
				}
			}
			for _, f := range a.FederatedCredentials {
				iss := f.Issuer
				if iss == "" {
					iss = srv.FederationIssuer()
				}
				fmt.Fprintf(w, ", federated credential %s sub %s", iss, f.Subject)
			}
			if a.AllowPublicClientFlows {
				fmt.Fprint(w, ", public client flows allowed")
			}
			if len(a.IdentifierURIs) > 0 || len(a.Scopes) > 0 {
				v := "v1.0"
				if a.AccessTokenVersion == 2 {
					v = "v2.0"
				}
				fmt.Fprintf(w, "; resource %s (%s tokens), scopes %s", strings.Join(a.IdentifierURIs, " "), v, strings.Join(a.Scopes, " "))
				if len(a.AppRoles) > 0 {
					fmt.Fprintf(w, ", app roles %s", strings.Join(a.AppRoles, " "))
				}
			}
			fmt.Fprintln(w)
		}
		for _, u := range t.Users {
			fmt.Fprintf(w, "    user %s password %s", u.Username, u.Password)
			if u.MFA {
				fmt.Fprint(w, " (requires MFA)")
			}
			if u.Federated {
				fmt.Fprint(w, " (federated)")
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "  first-party resources (v1.0 tokens): https://graph.microsoft.com, https://storage.azure.com, "+
		"https://management.azure.com/, https://vault.azure.net, %s\n", emulator.DevOpsAppID)
	fmt.Fprintf(w, "  workload identity issuer %s (credhost emulator token --federated --subject SUB)\n", srv.FederationIssuer())
}

// thumbprints returns the SHA-1 thumbprints of the certificates in p, as
// Entra ID prints them.
func thumbprints(p string) []string {
	var out []string
	rest := []byte(p)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		if b.Type == "CERTIFICATE" {
			sum := sha1.Sum(b.Bytes)
			out = append(out, emulator.Thumbprint(sum[:]))
		}
	}
}

// printEnv writes shell exports that point azidentity, MSAL and credhost
// at the emulator as the first confidential app with a secret and the
// first user without MFA.
func printEnv(w io.Writer, srv *emulator.Server, cfg emulator.Config, caFile string) error {
	ca, err := filepath.Abs(caFile)
	if err != nil {
		return err
	}
	t := cfg.Tenants[0]
	vars := [][2]string{{"AZURE_AUTHORITY_HOST", srv.URL()}, {"AZURE_TENANT_ID", t.ID}, {"SSL_CERT_FILE", ca}}
	for _, a := range t.Apps {
		if !a.Public && len(a.Secrets) > 0 {
			vars = append(vars, [2]string{"AZURE_CLIENT_ID", a.ClientID}, [2]string{"AZURE_CLIENT_SECRET", a.Secrets[0]})
			break
		}
	}
	for _, u := range t.Users {
		if !u.MFA && !u.Federated {
			vars = append(vars, [2]string{"AZURE_USERNAME", u.Username}, [2]string{"AZURE_PASSWORD", u.Password})
			break
		}
	}
	for _, v := range vars {
		if _, err := fmt.Fprintf(w, "export %s=%s\n", v[0], cliflags.ShellQuote(v[1])); err != nil {
			return err
		}
	}
	return nil
}

// token asks a running emulator (--url or --url-file, trusting --ca-file)
// for a workload identity token and prints it.
func (c *emulatorCmd) token(ctx context.Context, e *env) error {
	if !c.federated || c.subject == "" {
		return usageError{errors.New("say `credhost emulator token --federated --subject SUBJECT` (and --url or --url-file, --ca-file)")}
	}
	base := c.url
	if base == "" && c.urlFile != "" {
		b, err := os.ReadFile(c.urlFile)
		if err != nil {
			return usageError{fmt.Errorf("--url-file: %w", err)}
		}
		base = strings.TrimSpace(string(b))
	}
	if base == "" {
		return usageError{errors.New("give the running emulator's --url or --url-file")}
	}
	caPEM, err := os.ReadFile(c.caFile)
	if err != nil {
		return usageError{fmt.Errorf("--ca-file: %w", err)}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return usageError{fmt.Errorf("--ca-file %s: no PEM certificate", c.caFile)}
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	form := url.Values{"subject": {c.subject}}
	if c.audience != "" {
		form.Set("audience", c.audience)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+emulator.FederationTokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return usageError{fmt.Errorf("--url %q: %w", base, err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("emulator token: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
		Desc  string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.Token == "" {
		return fmt.Errorf("emulator token: HTTP %d from %s: %s", resp.StatusCode, base, body.Desc)
	}
	_, err = fmt.Fprintln(e.stdout, body.Token)
	return err
}

// parseFault reads "endpoint=token,status=429,retry-after=3,times=2".
func parseFault(spec string) (emulator.Fault, error) {
	var f emulator.Fault
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok && k != "drop" {
			return f, fmt.Errorf("--fault %q: %q is not key=value", spec, kv)
		}
		var err error
		switch k {
		case "endpoint":
			f.Endpoint = v
		case "status":
			f.Status, err = strconv.Atoi(v)
		case "retry-after":
			f.RetryAfter = v
		case "latency":
			f.Latency, err = time.ParseDuration(v)
		case "drop":
			f.Drop = v == "" || v == "true"
		case "times":
			f.Times, err = strconv.Atoi(v)
		default:
			err = errors.New("unknown key (use endpoint, status, retry-after, latency, drop, times)")
		}
		if err != nil {
			return f, fmt.Errorf("--fault %q: %s: %v", spec, k, err)
		}
	}
	return f, nil
}
