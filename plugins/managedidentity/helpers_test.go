package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
)

// MSAL caches managed identity tokens process-wide, by identity and
// resource, whatever the endpoint: each test asks for resources of its
// own, so that no test gets a token another test's emulator signed.
//
// No test sends anything to 169.254.169.254: every IMDS endpoint is the
// emulator's or a loopback listener, set with imds_endpoint or
// AZURE_POD_IDENTITY_AUTHORITY_HOST.

// userAssigned is an app of the emulator's tenant used as a user-assigned
// identity.
var userAssigned = emulator.App{ClientID: "0a550000-0000-4000-8000-000000000ab1", Name: "build-agent"}

// startIdP serves the default tenant plus the user-assigned identity.
func startIdP(t testing.TB) *emulator.Server {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, userAssigned)
	return emulatortest.Start(t, cfg)
}

// assetTag writes a DMI chassis asset tag file: azureAssetTag makes the
// machine an Azure VM for the flow, anything else a machine elsewhere.
func assetTag(t testing.TB, tag string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "chassis_asset_tag")
	if err := os.WriteFile(p, []byte(tag+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// env builds FlowConfig.Environment from name, value pairs.
func env(kv ...string) map[string]sdk.Secret {
	m := map[string]sdk.Secret{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = sdk.NewSecret(kv[i+1])
	}
	return m
}

// imds returns settings for IMDS at srv on an Azure VM, with more options
// as key, value pairs.
func imds(t testing.TB, srv *emulator.Server, kv ...string) sdk.FlowConfig {
	cfg := sdk.FlowConfig{Options: map[string]string{optIMDSEndpoint: srv.IMDSEndpoint()}, Secrets: map[string]sdk.Secret{},
		CACertificates: srv.CACertPEM(), Environment: env(envAssetTagFile, assetTag(t, azureAssetTag))}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg.Options[kv[i]] = kv[i+1]
	}
	return cfg
}

// appService returns settings for the App Service endpoint at srv, as the
// platform gives them: IDENTITY_ENDPOINT and IDENTITY_HEADER.
func appService(srv *emulator.Server, header string, kv ...string) sdk.FlowConfig {
	cfg := sdk.FlowConfig{Options: map[string]string{}, Secrets: map[string]sdk.Secret{}, CACertificates: srv.CACertPEM(),
		Environment: env(envIdentityEndpoint, srv.IdentityEndpoint(), envIdentityHeader, header)}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg.Options[kv[i]] = kv[i+1]
	}
	return cfg
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// silent is a loopback listener that accepts connections and never
// answers, like an address that swallows requests; it counts them.
type silent struct {
	ln    net.Listener
	conns atomic.Int64
}

func silentListener(t testing.TB) *silent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silent{ln: ln}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					_ = c.Close()
				}
				return
			}
			s.conns.Add(1)
			held = append(held, c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return s
}

func (s *silent) endpoint() string { return "http://" + s.ln.Addr().String() + imdsPath }

// pluginDir builds the plugin into a directory the host searches.
func pluginDir(t testing.TB) string {
	t.Helper()
	return filepath.Dir(testbin.Build(t, "./plugins/managedidentity", "credhost-plugin-managedidentity"))
}

// verified returns the claims of an emulator token, failing the test if
// the emulator did not sign it.
func verified(t testing.TB, srv *emulator.Server, tok sdk.Token) map[string]any {
	t.Helper()
	claims, err := srv.VerifyAccessToken(tok.AccessToken.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

// writeConfig writes a config file of memory-cached profiles and returns
// its path.
func writeConfig(t testing.TB, dir string, profiles ...string) string {
	t.Helper()
	body := ""
	for _, p := range profiles {
		body += p
	}
	body += "[cache]\nbackend = \"memory\"\n"
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// miProfile is a profile whose chain is managedidentity alone, trusting
// the CA file ca (if set), with settings as TOML lines.
func miProfile(name, ca string, settings string) string {
	if ca != "" {
		ca = fmt.Sprintf("ca_file   = %q", ca)
	}
	return fmt.Sprintf(`
[profiles.%[1]s]
authority = "https://login.microsoftonline.com/organizations"
client_id = "00000000-0000-4000-8000-000000000000"
chain     = ["managedidentity"]
%[2]s
[profiles.%[1]s.managedidentity]
%[3]s
`, name, ca, settings)
}
