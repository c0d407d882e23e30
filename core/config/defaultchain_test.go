package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// azureVars are every variable azidentity's EnvironmentCredential and
// DefaultAzureCredential read; each case of the tests below sets them all
// (unset ones to ""), so the machine's own environment plays no part.
var azureVars = []string{EnvTenantID, EnvClientID, EnvAuthorityHost, EnvClientSecret, EnvClientCertificatePath,
	EnvClientCertificatePassword, EnvSendCertificateChain, EnvUsername, EnvPassword, EnvFederatedTokenFile,
	EnvAdditionallyAllowedTenants, EnvTokenCredentials}

// setAzureVars sets vars in the process environment for azidentity (which
// reads os.Getenv) and returns the same as an Env for credhost.
func setAzureVars(t *testing.T, vars map[string]string) Env {
	t.Helper()
	for _, n := range azureVars {
		if v, ok := vars[n]; ok {
			t.Setenv(n, v)
		} else {
			t.Setenv(n, "")
			os.Unsetenv(n) // azidentity tells unset from empty for some
		}
	}
	return envMap(vars)
}

// writeTestCert writes a self-signed RSA certificate and its key, PEM, as
// azidentity's ParseCertificates reads them.
func writeTestCert(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "credhost-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "app.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// azidentityKind is the credential azidentity's own EnvironmentCredential
// builds from the process environment, or its error.
func azidentityKind(t *testing.T) (EnvKind, error) {
	t.Helper()
	ec, err := azidentity.NewEnvironmentCredential(nil)
	if err != nil {
		return 0, err
	}
	// The chosen credential is in an unexported field; its type is all
	// that is read.
	switch typ := reflect.ValueOf(ec).Elem().FieldByName("cred").Elem().Type(); typ {
	case reflect.TypeOf(&azidentity.ClientSecretCredential{}):
		return EnvSecret, nil
	case reflect.TypeOf(&azidentity.ClientCertificateCredential{}):
		return EnvCertificate, nil
	case reflect.TypeOf(&azidentity.UsernamePasswordCredential{}): //nolint:staticcheck // what azidentity builds
		return EnvUsernamePassword, nil
	default:
		t.Fatalf("azidentity built a %v", typ)
	}
	return 0, nil
}

// TestEnvCredentialMatchesAzidentity: for every env-only case, credhost
// picks the credential azidentity's EnvironmentCredential picks (or fails
// where it fails), checked against azidentity itself in the same case;
// the error names the missing variable; the profile with no config file
// runs the flow for it, and workload identity when only it is set.
func TestEnvCredentialMatchesAzidentity(t *testing.T) {
	cert := writeTestCert(t)
	const tenant, client = "contoso.onmicrosoft.com", "44444444-4444-4444-8444-444444444444"
	ids := func(extra ...string) map[string]string {
		m := map[string]string{EnvTenantID: tenant, EnvClientID: client}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		// errHas are substrings credhost's error must hold when both fail.
		errHas []string
		// chain is the default chain's flows; flows the clientcreds or
		// ropc settings it gets.
		chain []string
		flows map[string]map[string]string
	}{
		{name: "nothing set", env: map[string]string{},
			errHas: []string{"AZURE_TENANT_ID and AZURE_CLIENT_ID are not set"},
			chain:  []string{FlowManagedIdentity, FlowAzureCLI}},
		{name: "tenant only", env: map[string]string{EnvTenantID: tenant},
			errHas: []string{"AZURE_CLIENT_ID is not set"}, chain: []string{FlowManagedIdentity, FlowAzureCLI}},
		{name: "client only", env: map[string]string{EnvClientID: client},
			errHas: []string{"AZURE_TENANT_ID is not set"}, chain: []string{FlowManagedIdentity, FlowAzureCLI},
			flows: map[string]map[string]string{FlowManagedIdentity: {"client_id": client}}},
		{name: "ids but no credential", env: ids(),
			errHas: []string{"are set, but no credential", EnvClientSecret, EnvClientCertificatePath, EnvUsername, EnvPassword, EnvFederatedTokenFile},
			chain:  []string{FlowManagedIdentity, FlowAzureCLI},
			flows:  map[string]map[string]string{FlowManagedIdentity: {"client_id": client}}},
		{name: "certificate password alone", env: ids(EnvClientCertificatePassword, "pw"),
			errHas: []string{"no credential"}, chain: []string{FlowManagedIdentity, FlowAzureCLI},
			flows: map[string]map[string]string{FlowManagedIdentity: {"client_id": client}}},
		{name: "secret", env: ids(EnvClientSecret, "hunter2-canary"),
			chain: []string{FlowClientCreds, FlowManagedIdentity, FlowAzureCLI},
			flows: map[string]map[string]string{FlowClientCreds: {KeyClientSecret: "env:AZURE_CLIENT_SECRET"}, FlowManagedIdentity: {"client_id": client}}},
		{name: "secret beats certificate", env: ids(EnvClientSecret, "hunter2-canary", EnvClientCertificatePath, cert, EnvClientCertificatePassword, "pw"),
			chain: []string{FlowClientCreds, FlowManagedIdentity, FlowAzureCLI},
			flows: map[string]map[string]string{FlowClientCreds: {KeyClientSecret: "env:AZURE_CLIENT_SECRET"}, FlowManagedIdentity: {"client_id": client}}},
		{name: "secret beats a federated token file", env: ids(EnvClientSecret, "hunter2-canary", EnvFederatedTokenFile, "/var/run/token"),
			chain: []string{FlowClientCreds, FlowManagedIdentity, FlowAzureCLI},
			flows: map[string]map[string]string{FlowClientCreds: {KeyClientSecret: "env:AZURE_CLIENT_SECRET"}, FlowManagedIdentity: {"client_id": client}}},
		{name: "certificate with chain", env: ids(EnvClientCertificatePath, cert, EnvSendCertificateChain, "true"),
			chain: []string{FlowClientCreds, FlowManagedIdentity, FlowAzureCLI},
			flows: map[string]map[string]string{FlowClientCreds: {KeyCertificate: "file:" + cert, KeySendCertificateChain: "true"}, FlowManagedIdentity: {"client_id": client}}},
		{name: "certificate beats username", env: ids(EnvClientCertificatePath, cert, EnvUsername, "u@contoso.com", EnvPassword, "pw"),
			chain: []string{FlowClientCreds, FlowManagedIdentity, FlowAzureCLI},
			flows: map[string]map[string]string{FlowClientCreds: {KeyCertificate: "file:" + cert}, FlowManagedIdentity: {"client_id": client}}},
		{name: "username and password", env: ids(EnvUsername, "u@contoso.com", EnvPassword, "pw"),
			chain: []string{FlowROPC, FlowManagedIdentity, FlowAzureCLI},
			flows: map[string]map[string]string{FlowROPC: {KeyUsername: "u@contoso.com", KeyPassword: "env:AZURE_PASSWORD"}, FlowManagedIdentity: {"client_id": client}}},
		{name: "username without password", env: ids(EnvUsername, "u@contoso.com"),
			errHas: []string{"AZURE_USERNAME is set but AZURE_PASSWORD is not"}, chain: []string{FlowManagedIdentity, FlowAzureCLI},
			flows: map[string]map[string]string{FlowManagedIdentity: {"client_id": client}}},
		{name: "username, password and federated token file", env: ids(EnvUsername, "u@contoso.com", EnvPassword, "pw", EnvFederatedTokenFile, "/var/run/token"),
			chain: []string{FlowROPC, FlowClientCreds, FlowManagedIdentity, FlowAzureCLI},
			flows: map[string]map[string]string{FlowROPC: {KeyUsername: "u@contoso.com", KeyPassword: "env:AZURE_PASSWORD"},
				FlowClientCreds: {KeyFederatedTokenFile: "/var/run/token"}, FlowManagedIdentity: {"client_id": client}}},
		{name: "workload identity only", env: ids(EnvFederatedTokenFile, "/var/run/token"),
			errHas: []string{"no credential", "AZURE_FEDERATED_TOKEN_FILE is set: workload identity uses it"},
			chain:  []string{FlowClientCreds, FlowManagedIdentity, FlowAzureCLI},
			flows:  map[string]map[string]string{FlowClientCreds: {KeyFederatedTokenFile: "/var/run/token"}, FlowManagedIdentity: {"client_id": client}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := setAzureVars(t, tt.env)
			want, wantErr := azidentityKind(t)
			got, err := EnvCredential(getenv)
			if (err != nil) != (wantErr != nil) || got != want {
				t.Fatalf("credhost picks %v (err %v); azidentity picks %v (err %v)", got, err, want, wantErr)
			}
			for _, s := range tt.errHas {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("error %v lacks %q", err, s)
				}
			}
			if err != nil && strings.Contains(err.Error(), "no AZURE_TENANT_ID/AZURE_CLIENT_ID") {
				t.Errorf("error %v blames the ids", err)
			}

			p, err := DefaultProfile(getenv)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Chain, tt.chain) {
				t.Errorf("chain %v, want %v", p.Chain, tt.chain)
			}
			flows := map[string]map[string]string{}
			for flow, kv := range p.Flows {
				flows[flow] = map[string]string{}
				for k, v := range kv {
					flows[flow][k] = v.Raw
					if v.Origin.Env == "" {
						t.Errorf("%s.%s has origin %v", flow, k, v.Origin)
					}
				}
			}
			if tt.flows == nil {
				tt.flows = map[string]map[string]string{}
			}
			if !reflect.DeepEqual(flows, tt.flows) {
				t.Errorf("flow settings %v, want %v", flows, tt.flows)
			}
			// Every credential of azidentity's chain is listed: run, or
			// skipped with the reason.
			var creds []string
			for _, m := range p.Default {
				creds = append(creds, m.Credential)
				if (m.Flow == "") == (m.Skipped == "") {
					t.Errorf("member %+v", m)
				}
			}
			if !slices.Equal(creds, []string{CredEnvironment, CredWorkloadIdentity, CredManagedIdentity, CredAzureCLI}) {
				t.Errorf("members %v", creds)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if s := strings.Join(p.Chain, ",") + flowsString(p); strings.Contains(s, "hunter2-canary") {
				t.Errorf("the secret is in the profile: %s", s)
			}
		})
	}
}

func flowsString(p *Profile) string {
	var b strings.Builder
	for _, kv := range p.Flows {
		for k, v := range kv {
			b.WriteString(k + "=" + v.Raw + ";")
		}
	}
	return b.String()
}

// TestDefaultChainSelection: AZURE_TOKEN_CREDENTIALS narrows the default
// chain as it narrows azidentity's DefaultAzureCredential, and the values
// azidentity refuses are refused.
func TestDefaultChainSelection(t *testing.T) {
	base := map[string]string{EnvTenantID: "contoso.onmicrosoft.com", EnvClientID: "44444444-4444-4444-8444-444444444444",
		EnvClientSecret: "s", EnvFederatedTokenFile: "/var/run/token"}
	tests := []struct {
		value string
		chain []string
		// skipped are the members listed as skipped.
		skipped []string
		err     string
	}{
		{value: "", chain: []string{FlowClientCreds, FlowManagedIdentity, FlowAzureCLI}, skipped: []string{CredWorkloadIdentity}},
		{value: "prod", chain: []string{FlowClientCreds, FlowManagedIdentity}, skipped: []string{CredWorkloadIdentity}},
		{value: "dev", chain: []string{FlowAzureCLI}},
		{value: "EnvironmentCredential", chain: []string{FlowClientCreds}},
		{value: "environmentcredential", chain: []string{FlowClientCreds}},
		{value: "WorkloadIdentityCredential", chain: []string{FlowClientCreds}},
		{value: "ManagedIdentityCredential", chain: []string{FlowManagedIdentity}},
		{value: "AzureCliCredential", chain: []string{FlowAzureCLI}},
		{value: "Dev", err: `invalid value "Dev"`},
		{value: "production", err: `invalid value "production"`},
		{value: "AzurePowerShellCredential", err: "has no credhost flow"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			vars := map[string]string{EnvTokenCredentials: tt.value}
			for k, v := range base {
				vars[k] = v
			}
			getenv := setAzureVars(t, vars)
			if tt.value == "" {
				os.Unsetenv(EnvTokenCredentials)
			}
			_, azErr := azidentity.NewDefaultAzureCredential(nil)
			p, err := DefaultProfile(getenv)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				if azErr == nil && tt.value != "AzurePowerShellCredential" {
					t.Errorf("azidentity accepts %q", tt.value)
				}
				return
			}
			if err != nil || azErr != nil {
				t.Fatalf("credhost: %v; azidentity: %v", err, azErr)
			}
			if !slices.Equal(p.Chain, tt.chain) {
				t.Errorf("chain %v, want %v", p.Chain, tt.chain)
			}
			var skipped []string
			for _, m := range p.Default {
				if m.Skipped != "" {
					skipped = append(skipped, m.Credential)
				}
			}
			if !slices.Equal(skipped, tt.skipped) {
				t.Errorf("skipped %v, want %v (%+v)", skipped, tt.skipped, p.Default)
			}
			if tt.value == "WorkloadIdentityCredential" {
				if got := flowsString(p); got != KeyFederatedTokenFile+"=/var/run/token;" && !strings.Contains(got, "client_id") {
					t.Errorf("workload identity alone uses %s", got)
				}
				if _, ok := p.Flows[FlowClientCreds][KeyClientSecret]; ok {
					t.Error("workload identity alone got the secret")
				}
			}
		})
	}
	t.Run("nothing selected is set up", func(t *testing.T) {
		_, err := DefaultProfile(envMap(map[string]string{EnvTokenCredentials: CredEnvironment, EnvTenantID: "t"}))
		if err == nil || !strings.Contains(err.Error(), "EnvironmentCredential: AZURE_CLIENT_ID is not set") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestDocsDefaultChain: the attempt list docs/azure-sdk-migration.md shows
// for AZURE_TENANT_ID and AZURE_CLIENT_ID alone is what the default chain
// says.
func TestDocsDefaultChain(t *testing.T) {
	data, err := os.ReadFile("../../docs/azure-sdk-migration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(data), "```text\n")
	block, _, _ = strings.Cut(block, "```")
	p, err := DefaultProfile(envMap(map[string]string{EnvTenantID: "t", EnvClientID: "c"}))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i, m := range p.Default[:2] {
		fmt.Fprintf(&want, "%d. %s: skipped: %s\n", i+1, m.Name(), m.Skipped)
	}
	if block != want.String() {
		t.Errorf("the doc shows\n%s\nthe chain says\n%s", block, want.String())
	}
}
