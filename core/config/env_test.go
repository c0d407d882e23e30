package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// envMap is an Env backed by a map, as tests use instead of os.Getenv.
func envMap(m map[string]string) Env { return func(k string) string { return m[k] } }

func loadProfile(t *testing.T, name string) *Profile {
	t.Helper()
	f, err := Load("testdata/valid.toml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Profile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyEnv(t *testing.T) {
	const tenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	abs := func(p string) string {
		t.Helper()
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	env := func(name string) Origin { return Origin{Env: name} }
	tests := []struct {
		name string
		env  map[string]string
		// check returns the field under test; want is its expected value.
		check func(p *Profile) any
		want  any
		err   string
	}{
		{name: "nothing set changes nothing", env: map[string]string{"UNRELATED": "x"},
			check: func(p *Profile) any { return *p }, want: *loadProfile(t, "ci")},
		{name: "empty counts as unset", env: map[string]string{EnvClientID: "", EnvTenantID: ""},
			check: func(p *Profile) any { return *p }, want: *loadProfile(t, "ci")},
		{name: "client id", env: map[string]string{EnvClientID: "33333333-3333-4333-8333-333333333333"},
			check: func(p *Profile) any { return p.ClientID },
			want:  Value{Raw: "33333333-3333-4333-8333-333333333333", Origin: env(EnvClientID)}},
		{name: "tenant", env: map[string]string{EnvTenantID: "fabrikam.onmicrosoft.com"},
			check: func(p *Profile) any { return p.Authority },
			want:  Value{Raw: "https://login.microsoftonline.com/fabrikam.onmicrosoft.com", Origin: env(EnvTenantID)}},
		{name: "authority host", env: map[string]string{EnvAuthorityHost: "https://login.microsoftonline.us/"},
			check: func(p *Profile) any { return p.Authority },
			want:  Value{Raw: "https://login.microsoftonline.us/" + tenantID, Origin: env(EnvAuthorityHost)}},
		{name: "host and tenant", env: map[string]string{EnvAuthorityHost: "https://login.chinacloudapi.cn", EnvTenantID: "common"},
			check: func(p *Profile) any { return p.Authority },
			want:  Value{Raw: "https://login.chinacloudapi.cn/common", Origin: env(EnvAuthorityHost + ", " + EnvTenantID)}},
		{name: "client secret is a reference", env: map[string]string{EnvClientSecret: "hunter2-canary"},
			check: func(p *Profile) any { return p.Flows[FlowClientCreds][KeyClientSecret] },
			want:  Value{Raw: "env:AZURE_CLIENT_SECRET", Origin: env(EnvClientSecret)}},
		{name: "certificate path made absolute", env: map[string]string{EnvClientCertificatePath: "certs/app.pem"},
			check: func(p *Profile) any { return p.Flows[FlowClientCreds][KeyCertificate] },
			want:  Value{Raw: "file:" + abs("certs/app.pem"), Origin: env(EnvClientCertificatePath)}},
		{name: "certificate password is a reference", env: map[string]string{EnvClientCertificatePassword: "pw"},
			check: func(p *Profile) any { return p.Flows[FlowClientCreds][KeyCertificatePassword] },
			want:  Value{Raw: "env:AZURE_CLIENT_CERTIFICATE_PASSWORD", Origin: env(EnvClientCertificatePassword)}},
		{name: "federated token file", env: map[string]string{EnvFederatedTokenFile: "/var/run/secrets/azure/tokens/azure-identity-token"},
			check: func(p *Profile) any { return p.Flows[FlowClientCreds][KeyFederatedTokenFile] },
			want:  Value{Raw: "/var/run/secrets/azure/tokens/azure-identity-token", Origin: env(EnvFederatedTokenFile)}},
		{name: "other file settings stay", env: map[string]string{EnvClientSecret: "x"},
			check: func(p *Profile) any { return p.Flows[FlowClientCreds]["send_x5c"] },
			want:  Value{Raw: "true", Origin: Origin{File: "testdata/valid.toml", Line: 16, Col: 1}}},
		{name: "a variable's way to authenticate replaces the file's", env: map[string]string{EnvFederatedTokenFile: "/t"},
			check: func(p *Profile) any {
				_, secret := p.Flows[FlowClientCreds][KeyClientSecret]
				_, cert := p.Flows[FlowClientCreds][KeyCertificate]
				return [2]bool{secret, cert}
			}, want: [2]bool{false, false}},
		{name: "secret wins over a federated token file", env: map[string]string{EnvClientSecret: "x", EnvFederatedTokenFile: "/t"},
			check: func(p *Profile) any {
				_, fed := p.Flows[FlowClientCreds][KeyFederatedTokenFile]
				return [2]any{p.Flows[FlowClientCreds][KeyClientSecret].Raw, fed}
			}, want: [2]any{"env:AZURE_CLIENT_SECRET", false}},
		{name: "CA file", env: map[string]string{EnvCAFile: "certs/proxy.pem"},
			check: func(p *Profile) any { return p.CAFile },
			want:  Value{Raw: abs("certs/proxy.pem"), Origin: env(EnvCAFile)}},
		{name: "send certificate chain", env: map[string]string{EnvClientCertificatePath: "/c.pem", EnvSendCertificateChain: "1"},
			check: func(p *Profile) any { return p.Flows[FlowClientCreds][KeySendCertificateChain] },
			want:  Value{Raw: "true", Origin: env(EnvSendCertificateChain)}},
		{name: "bad authority host", env: map[string]string{EnvAuthorityHost: "http://login.example"},
			check: func(p *Profile) any { return p.Authority.Origin }, want: env(EnvAuthorityHost),
			err: `env AZURE_AUTHORITY_HOST: profiles.ci.authority: authority "http://login.example/` + tenantID + `" is not an https URL`},
		{name: "bad tenant", env: map[string]string{EnvTenantID: "not a tenant"},
			check: func(p *Profile) any { return p.Authority.Origin }, want: env(EnvTenantID),
			err: `env AZURE_TENANT_ID: profiles.ci.authority: authority "https://login.microsoftonline.com/not%20a%20tenant": tenant "not a tenant" may only hold`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := loadProfile(t, "ci")
			err := p.ApplyEnv(envMap(tt.env))
			if got := tt.check(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want %q", err, tt.err)
			}
			if s := fmt.Sprintf("%+v %v", *p, err); strings.Contains(s, "hunter2-canary") {
				t.Errorf("the secret is in the profile or error: %s", s)
			}
		})
	}
}

func TestApplyEnvAuthorityForms(t *testing.T) {
	tests := []struct {
		authority, host, tenant, want string
	}{
		{"", "", "t1", "https://login.microsoftonline.com/t1"},
		{"", "https://login.microsoftonline.us", "t1", "https://login.microsoftonline.us/t1"},
		{"https://127.0.0.1:8443/t0/v2.0", "", "t1", "https://127.0.0.1:8443/t1/v2.0"},
		{"https://127.0.0.1:8443/t0/v2.0", "https://h2/", "", "https://h2/t0/v2.0"},
		{"https://h/", "", "t1", "https://h/t1"},
	}
	for _, tt := range tests {
		p := &Profile{Name: "p", Authority: Value{Raw: tt.authority}}
		err := p.ApplyEnv(envMap(map[string]string{EnvAuthorityHost: tt.host, EnvTenantID: tt.tenant}))
		if err != nil || p.Authority.Raw != tt.want {
			t.Errorf("%q + host %q tenant %q = %q, %v; want %q", tt.authority, tt.host, tt.tenant, p.Authority.Raw, err, tt.want)
		}
	}
}

func TestApplyEnvSecretResolves(t *testing.T) {
	p := loadProfile(t, "laptop")
	getenv := envMap(map[string]string{EnvClientSecret: "hunter2-canary"})
	if err := p.ApplyEnv(getenv); err != nil {
		t.Fatal(err)
	}
	s, err := ResolveSecret(p.Flows[FlowClientCreds][KeyClientSecret], getenv, "")
	if err != nil || s.Reveal() != "hunter2-canary" {
		t.Fatalf("resolved %q, %v", s.Reveal(), err)
	}
}
