package emulator_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credhost/credhost/emulator"
)

func TestDefaultConfig(t *testing.T) {
	cfg := emulator.DefaultConfig()
	if len(cfg.Tenants) != 1 {
		t.Fatalf("tenants: %d", len(cfg.Tenants))
	}
	tn := cfg.Tenants[0]
	if tn.ID != "72f988bf-0000-4000-8000-000000000001" || tn.Domain != "contoso.onmicrosoft.com" {
		t.Errorf("tenant %s %s", tn.ID, tn.Domain)
	}
	if len(tn.Apps) != 3 || tn.Apps[0].ClientID != "11111111-1111-4111-8111-111111111111" || tn.Apps[0].Name != "credhost-demo" ||
		len(tn.Apps[0].Secrets) != 1 || tn.Apps[0].Secrets[0] != "demo-secret-value" {
		t.Errorf("apps %+v", tn.Apps)
	}
	if pub := tn.Apps[1]; pub.ClientID != emulator.DefaultPublicClientID || !pub.Public || len(pub.RedirectURIs) != 2 {
		t.Errorf("public app %+v", pub)
	}
	if api := tn.Apps[2]; api.ClientID != emulator.DefaultAPIClientID || api.AccessTokenVersion != 2 || api.IdentifierURIs[0] != "api://resource" {
		t.Errorf("web API %+v", api)
	}
	if len(tn.Users) != 2 || tn.Users[0].Username != "alice@contoso.onmicrosoft.com" || tn.Users[0].Password != "alice-password" ||
		tn.Users[0].MFA || tn.Users[1].Username != emulator.DefaultMFAUsername || !tn.Users[1].MFA {
		t.Errorf("users %+v", tn.Users)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b, _ := json.Marshal(emulator.DefaultConfig())
	if !strings.Contains(string(b), `"client_id"`) || !strings.Contains(string(b), `"tenants"`) {
		t.Errorf("json tags: %s", b)
	}
	cfg, err := emulator.LoadConfig(write("ok.json", string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tenants[0].Apps[0].Secrets[0] != emulator.DefaultClientSecret || !cfg.Tenants[0].AutoConsent ||
		cfg.Tenants[0].Apps[2].AccessTokenVersion != 2 || len(cfg.Tenants[0].Apps[0].Permissions) == 0 {
		t.Errorf("round trip: %+v", cfg)
	}
	for name, body := range map[string]string{
		"unknown field": `{"tenants":[],"tennants":[]}`,
		"not a guid":    `{"tenants":[{"id":"contoso"}]}`,
		"reserved":      `{"tenants":[{"id":"72f988bf-0000-4000-8000-000000000001","domain":"common"}]}`,
		"dup app":       `{"tenants":[{"id":"72f988bf-0000-4000-8000-000000000001","apps":[{"client_id":"a"},{"client_id":"A"}]}]}`,
		"no client id":  `{"tenants":[{"id":"72f988bf-0000-4000-8000-000000000001","apps":[{"name":"x"}]}]}`,
		"public secret": `{"tenants":[{"id":"72f988bf-0000-4000-8000-000000000001","apps":[{"client_id":"a","public":true,"secrets":["s"]}]}]}`,
		"syntax":        `{`,
		"dup uri": `{"tenants":[{"id":"72f988bf-0000-4000-8000-000000000001","apps":[{"client_id":"a","identifier_uris":["api://x"]},` +
			`{"client_id":"b","identifier_uris":["API://x/"]}]}]}`,
		"bad version":    `{"tenants":[{"id":"72f988bf-0000-4000-8000-000000000001","apps":[{"client_id":"a","access_token_version":3}]}]}`,
		"empty resource": `{"tenants":[{"id":"72f988bf-0000-4000-8000-000000000001","apps":[{"client_id":"a","permissions":[{"scopes":["x"]}]}]}]}`,
	} {
		if _, err := emulator.LoadConfig(write(strings.ReplaceAll(name, " ", "_")+".json", body)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := emulator.LoadConfig(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestNewRejectsBadCertificate(t *testing.T) {
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Apps[0].Certificates = []string{"not a pem"}
	if _, err := emulator.New(emulator.Options{Config: cfg}); err == nil {
		t.Error("bad certificate accepted")
	}
}

func TestAddApp(t *testing.T) {
	srv := start(t)
	if err := srv.AddApp("nope", emulator.App{ClientID: "x"}); err == nil {
		t.Error("unknown tenant accepted")
	}
	if err := srv.AddApp(tenantID, emulator.App{ClientID: clientID}); err == nil {
		t.Error("duplicate client id accepted")
	}
	if err := srv.AddApp(domain, emulator.App{ClientID: "new-app", Secrets: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	f := secretForm("s")
	f.Set("client_id", "new-app")
	if r := postToken(t, srv, tenantID, f); r.status != 200 {
		t.Fatalf("added app: %d %s", r.status, r.raw)
	}
}

func TestCAFile(t *testing.T) {
	srv := start(t)
	b, err := os.ReadFile(srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(srv.CACertPEM()) {
		t.Error("CA file differs from CACertPEM")
	}
	if st, _ := os.Stat(srv.CAFile()); st.Mode().Perm() != 0o644 {
		t.Errorf("CA file mode %v", st.Mode().Perm())
	}
}
