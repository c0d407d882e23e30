package clientauth

import (
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/testkit/clientauthtest"
)

// canaries are planted secret values that must never appear in an error.
const (
	canarySecret   = "canary-client-secret-5d1f"
	canaryPassword = "canary-pfx-password-77aa"
)

// fakeJWT is a syntactically valid unsigned JWT with no exp.
var fakeJWT = b64(`{"alg":"none"}`) + "." + b64(`{"iss":"x","sub":"y"}`) + ".c2lnbmF0dXJl"

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func secrets(kv ...string) map[string]core.Secret {
	m := map[string]core.Secret{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = core.NewSecret(kv[i+1])
	}
	return m
}

func TestLoad(t *testing.T) {
	good := clientauthtest.NewRSA(t, "good", 0)
	other := clientauthtest.NewRSA(t, "other", 1)
	ec := clientauthtest.NewECDSA(t, "ec")

	legacyPFX := good.LegacyPFX(t, canaryPassword)
	encryptedPEM := append([]byte(good.CertPEM()), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})...)
	mismatched := append([]byte(good.CertPEM()), other.KeyPEM(t, clientauthtest.PKCS8)...)

	tests := []struct {
		name    string
		options map[string]string
		secrets map[string]core.Secret
		// wantFields are the fields the ConfigError must name, in order;
		// nil means success.
		wantFields []string
		wantMsg    string
	}{
		{name: "nothing set", wantFields: []string{"client_secret|certificate|client_assertion|client_assertion_command|federated_token_file"}, wantMsg: "set exactly one of"},
		{name: "only an empty secret", secrets: secrets(OptClientSecret, "  "), wantFields: []string{"client_secret|certificate|client_assertion|client_assertion_command|federated_token_file"}, wantMsg: "client_secret is empty"},
		{name: "secret and certificate", secrets: secrets(OptClientSecret, canarySecret, OptCertificate, string(good.PEM(t, clientauthtest.PKCS8))),
			wantFields: []string{OptClientSecret, OptCertificate}, wantMsg: "set only one"},
		{name: "secret and federated file", secrets: secrets(OptClientSecret, canarySecret), options: map[string]string{OptFederatedTokenFile: "/tmp/tok"},
			wantFields: []string{OptClientSecret, OptFederatedTokenFile}},
		{name: "client secret", secrets: secrets(OptClientSecret, canarySecret)},
		{name: "client secret passed as plain option", options: map[string]string{OptClientSecret: canarySecret},
			wantFields: []string{OptClientSecret, "client_secret|certificate|client_assertion|client_assertion_command|federated_token_file"}, wantMsg: "must not be passed as a plain option"},
		{name: "certificate password without certificate", secrets: secrets(OptClientSecret, canarySecret, OptCertificatePassword, canaryPassword),
			wantFields: []string{OptCertificatePassword}, wantMsg: "applies only to certificate"},
		{name: "send chain without certificate", secrets: secrets(OptClientSecret, canarySecret), options: map[string]string{OptSendCertificateChain: "true"},
			wantFields: []string{OptSendCertificateChain}},

		{name: "PEM PKCS#8 with chain", secrets: secrets(OptCertificate, string(good.PEM(t, clientauthtest.PKCS8)))},
		{name: "PEM PKCS#1", secrets: secrets(OptCertificate, string(good.PEM(t, clientauthtest.PKCS1)))},
		{name: "PEM key first", secrets: secrets(OptCertificate, string(good.KeyPEM(t, clientauthtest.PKCS1))+good.CertPEM())},
		{name: "PEM with send_certificate_chain", secrets: secrets(OptCertificate, string(good.PEM(t, clientauthtest.PKCS8))), options: map[string]string{OptSendCertificateChain: "true"}},
		{name: "PEM with bad send_certificate_chain", secrets: secrets(OptCertificate, string(good.PEM(t, clientauthtest.PKCS8))), options: map[string]string{OptSendCertificateChain: "yes please"},
			wantFields: []string{OptSendCertificateChain}, wantMsg: `must be "true" or "false"`},
		{name: "PEM without key", secrets: secrets(OptCertificate, good.CertPEM()), wantFields: []string{OptCertificate}, wantMsg: "holds no private key"},
		{name: "PEM without certificate", secrets: secrets(OptCertificate, string(good.KeyPEM(t, clientauthtest.PKCS8))), wantFields: []string{OptCertificate}, wantMsg: "no CERTIFICATE block"},
		{name: "PEM with encrypted key", secrets: secrets(OptCertificate, string(encryptedPEM)), wantFields: []string{OptCertificate}, wantMsg: "is encrypted"},
		{name: "PEM with password", secrets: secrets(OptCertificate, string(good.PEM(t, clientauthtest.PKCS8)), OptCertificatePassword, canaryPassword),
			wantFields: []string{OptCertificatePassword}, wantMsg: "applies only to a PFX"},
		{name: "PEM with EC key", secrets: secrets(OptCertificate, string(ec.PEM(t, clientauthtest.SEC1))), wantFields: []string{OptCertificate}, wantMsg: "needs an RSA key"},
		{name: "PEM with EC PKCS#8 key", secrets: secrets(OptCertificate, string(ec.PEM(t, clientauthtest.PKCS8))), wantFields: []string{OptCertificate}, wantMsg: "ECDSA"},
		{name: "PEM key matches no certificate", secrets: secrets(OptCertificate, string(mismatched)), wantFields: []string{OptCertificate}, wantMsg: "matches none"},

		{name: "legacy PFX", secrets: secrets(OptCertificate, string(legacyPFX), OptCertificatePassword, canaryPassword)},
		{name: "legacy PFX as base64 text", secrets: secrets(OptCertificate, base64.StdEncoding.EncodeToString(legacyPFX)+"\n", OptCertificatePassword, canaryPassword)},
		{name: "legacy PFX with empty password", secrets: secrets(OptCertificate, string(good.LegacyPFX(t, "")))},
		{name: "legacy PFX wrong password", secrets: secrets(OptCertificate, string(legacyPFX), OptCertificatePassword, "wrong"),
			wantFields: []string{OptCertificatePassword}, wantMsg: "does not open"},
		{name: "legacy PFX without password", secrets: secrets(OptCertificate, string(legacyPFX)),
			wantFields: []string{OptCertificatePassword}, wantMsg: "set certificate_password"},
		{name: "modern AES PFX", secrets: secrets(OptCertificate, string(good.ModernPFX(t, canaryPassword)), OptCertificatePassword, canaryPassword),
			wantFields: []string{OptCertificate}, wantMsg: "openssl pkcs12 -export -legacy"},
		{name: "PFX with EC key", secrets: secrets(OptCertificate, string(ec.LegacyPFX(t, "pw")), OptCertificatePassword, "pw"),
			wantFields: []string{OptCertificate}, wantMsg: "needs an RSA key"},
		{name: "neither PEM nor PFX", secrets: secrets(OptCertificate, canarySecret), wantFields: []string{OptCertificate}, wantMsg: "neither PEM nor"},

		{name: "client assertion", secrets: secrets(OptClientAssertion, fakeJWT+"\n")},
		{name: "client assertion not a JWT", secrets: secrets(OptClientAssertion, canarySecret), wantFields: []string{OptClientAssertion}, wantMsg: "not a JWT"},
		{name: "assertion command", options: map[string]string{OptClientAssertionCommand: "echo x.y.z"}},
		{name: "federated token file", options: map[string]string{OptFederatedTokenFile: "/var/run/secrets/azure/tokens/azure-identity-token"}},
		{name: "federated token file as secret", secrets: secrets(OptFederatedTokenFile, "/x"),
			wantFields: []string{OptFederatedTokenFile, "client_secret|certificate|client_assertion|client_assertion_command|federated_token_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := core.FlowConfig{Options: tt.options, Secrets: tt.secrets}
			_, err := Load(cfg)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("Load() error = %v", err)
				}
				return
			}
			var ce *core.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Load() error = %v (%T), want *core.ConfigError", err, err)
			}
			var got []string
			for _, f := range ce.Fields {
				got = append(got, f.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantFields, ",") {
				t.Errorf("fields = %q, want %q (error: %v)", got, tt.wantFields, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantMsg)
			}
			for _, canary := range []string{canarySecret, canaryPassword, "MII"} {
				if strings.Contains(err.Error(), canary) {
					t.Errorf("error text leaks %q: %v", canary, err)
				}
			}
		})
	}
}

func TestConfigured(t *testing.T) {
	if Configured(core.FlowConfig{}) {
		t.Error("empty config is configured")
	}
	if Configured(core.FlowConfig{Secrets: secrets(OptClientSecret, "")}) {
		t.Error("empty secret counts as configured")
	}
	if !Configured(core.FlowConfig{Options: map[string]string{OptFederatedTokenFile: "/f"}}) {
		t.Error("federated_token_file is not configured")
	}
}

func TestOptions(t *testing.T) {
	want := map[string]bool{
		OptClientSecret: true, OptCertificate: true, OptCertificatePassword: true, OptClientAssertion: true,
		OptSendCertificateChain: false, OptClientAssertionCommand: false, OptFederatedTokenFile: false,
	}
	opts := Options()
	if len(opts) != len(want) {
		t.Fatalf("len(Options()) = %d, want %d", len(opts), len(want))
	}
	for _, o := range opts {
		secret, ok := want[o.Name]
		if !ok {
			t.Errorf("unexpected option %q", o.Name)
		}
		if o.Secret != secret {
			t.Errorf("%s: Secret = %v, want %v", o.Name, o.Secret, secret)
		}
		if o.Help == "" {
			t.Errorf("%s: no Help", o.Name)
		}
	}
}

func TestCheckAuthority(t *testing.T) {
	tests := []struct {
		authority string
		wantErr   string
	}{
		{"https://login.microsoftonline.com/contoso.onmicrosoft.com", ""},
		{"https://127.0.0.1:8443/72f988bf-0000-4000-8000-000000000001", ""},
		{"https://127.0.0.1:8443/72f988bf-0000-4000-8000-000000000001/", ""},
		{"", "is required"},
		{"http://login.microsoftonline.com/x", "https"},
		{"https://login.microsoftonline.com", "has no tenant"},
		{"https://login.microsoftonline.com/", "has no tenant"},
		{"https:///x", "has no host"},
		{"https://h/t?x=1", "query"},
		{"://bad", "not a URL"},
	}
	for _, tt := range tests {
		err := CheckAuthority(tt.authority)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("CheckAuthority(%q) = %v, want %q", tt.authority, err, tt.wantErr)
		}
	}

	ce := &core.ConfigError{}
	CheckCommon(core.FlowConfig{}, ce)
	if len(ce.Fields) != 2 || ce.Fields[0].Field != "client_id" || ce.Fields[1].Field != "authority" {
		t.Errorf("CheckCommon(empty) = %v", ce.Fields)
	}
}

func TestKnownCloudHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"login.microsoftonline.com", true},
		{"LOGIN.MicrosoftOnline.com:443", true},
		{"login.microsoftonline.com.", true},
		{"login.microsoftonline.us", true},
		{"login.chinacloudapi.cn", true},
		{"login.partner.microsoftonline.cn", true},
		{"127.0.0.1:8443", false},
		{"login.microsoftonline.com.evil.example", false},
		{"login.windows.net.example", false},
	}
	for _, tt := range tests {
		if got := IsKnownCloudHost(tt.host); got != tt.want {
			t.Errorf("IsKnownCloudHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if !InstanceDiscovery("https://login.microsoftonline.us/tenant") || InstanceDiscovery("https://127.0.0.1:9/tenant") {
		t.Error("InstanceDiscovery disagrees with IsKnownCloudHost")
	}
	if len(KnownCloudHosts()) != 4 {
		t.Errorf("KnownCloudHosts() = %v", KnownCloudHosts())
	}
}

func TestNewClient(t *testing.T) {
	good := clientauthtest.NewRSA(t, "good", 0)
	cfg := core.FlowConfig{
		Authority: "https://127.0.0.1:8443/72f988bf-0000-4000-8000-000000000001",
		ClientID:  "11111111-1111-4111-8111-111111111111",
		Secrets:   secrets(OptCertificate, string(good.PEM(t, clientauthtest.PKCS8))),
		Options:   map[string]string{OptSendCertificateChain: "true"},
	}
	cred, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewClient(cfg, cred, nil, nil); err != nil {
		t.Fatalf("NewClient() error = %v", err)
	}
}
