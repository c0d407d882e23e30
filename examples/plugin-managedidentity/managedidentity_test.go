package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/plugintest"
)

// MSAL caches managed identity tokens process-wide, by identity and
// resource, whatever the endpoint: each test asks for resources of its
// own, so that no test gets a token another test's emulator signed.

// userAssigned is an app of the emulator's tenant used as a user-assigned
// identity.
var userAssigned = emulator.App{ClientID: "0a550000-0000-4000-8000-000000000ab1", Name: "build-agent"}

// startIdP serves the default tenant plus the user-assigned identity.
func startIdP(t *testing.T) *emulator.Server {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, userAssigned)
	return emulatortest.Start(t, cfg)
}

// imds returns settings for IMDS at srv, with more options as key, value
// pairs.
func imds(srv *emulator.Server, kv ...string) sdk.FlowConfig {
	cfg := sdk.FlowConfig{Options: map[string]string{optIMDSEndpoint: srv.IMDSEndpoint()}, Secrets: map[string]sdk.Secret{}, CACertificates: srv.CACertPEM()}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg.Options[kv[i]] = kv[i+1]
	}
	return cfg
}

// appService returns settings for the App Service endpoint at srv.
func appService(srv *emulator.Server, header string, kv ...string) sdk.FlowConfig {
	cfg := sdk.FlowConfig{Options: map[string]string{optEndpoint: srv.IdentityEndpoint()},
		Secrets: map[string]sdk.Secret{optIdentityHeader: sdk.NewSecret(header)}, CACertificates: srv.CACertPEM()}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg.Options[kv[i]] = kv[i+1]
	}
	return cfg
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// pluginDir builds this plugin and credhost's clientcreds plugin, once per
// test binary, into a directory the host can search.
func pluginDir(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "credhost-mi-plugins-")
		if buildErr != nil {
			return
		}
		for _, b := range [][2]string{
			{"credhost-plugin-managedidentity", "."},
			{"credhost-plugin-clientcreds", "github.com/credhost/credhost/plugins/clientcreds"},
		} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, b[0]), b[1]).CombinedOutput()
			if err != nil {
				buildErr = &buildError{pkg: b[1], out: string(out), err: err}
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
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

// TestConformance runs the SDK's conformance kit, in-process and through
// the built plugin, with IMDS and with App Service.
func TestConformance(t *testing.T) {
	srv := startIdP(t)
	bin := filepath.Join(pluginDir(t), "credhost-plugin-managedidentity")
	bad := []plugintest.Bad{
		{Name: "two identities", Config: imds(srv, optClientID, userAssigned.ClientID, optResourceID, "/subscriptions/x"), Fields: []string{optResourceID}},
		{Name: "client id not a GUID", Config: imds(srv, optClientID, "build-agent"), Fields: []string{optClientID}},
		{Name: "object id not a GUID", Config: imds(srv, optObjectID, "x"), Fields: []string{optObjectID}},
		{Name: "resource id not an ARM id", Config: imds(srv, optResourceID, "build-agent"), Fields: []string{optResourceID}},
		{Name: "endpoint without header", Config: sdk.FlowConfig{Options: map[string]string{optEndpoint: srv.IdentityEndpoint()}}, Fields: []string{optIdentityHeader}},
		{Name: "header without endpoint", Config: sdk.FlowConfig{Secrets: map[string]sdk.Secret{optIdentityHeader: sdk.NewSecret("canary-lonely-header")}}, Fields: []string{optIdentityHeader}},
		{Name: "both endpoints", Config: appService(srv, "canary-header-1", optIMDSEndpoint, srv.IMDSEndpoint()), Fields: []string{optIMDSEndpoint}},
		{Name: "not URLs", Config: imds(srv, optIMDSEndpoint, "169.254.169.254"), Fields: []string{optIMDSEndpoint}},
		{Name: "bad probe timeout", Config: imds(srv, optProbeTimeout, "forever"), Fields: []string{optProbeTimeout}},
		{Name: "bad CA", Config: sdk.FlowConfig{CACertificates: []byte("junk")}, Fields: []string{"ca_file"}},
	}
	for _, tt := range []struct {
		name     string
		good     sdk.FlowConfig
		resource string
		stalled  func(addr string) sdk.FlowConfig
	}{
		{"imds", imds(srv), "api://conformance-imds", func(addr string) sdk.FlowConfig {
			return sdk.FlowConfig{Options: map[string]string{optIMDSEndpoint: "http://" + addr + emulator.IMDSPath}}
		}},
		{"appservice", appService(srv, emulator.IdentityHeader), "api://conformance-appservice", func(addr string) sdk.FlowConfig {
			return sdk.FlowConfig{Options: map[string]string{optEndpoint: "http://" + addr + emulator.AppServicePath},
				Secrets: map[string]sdk.Secret{optIdentityHeader: sdk.NewSecret("canary-stalled-header")}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plugintest.Run(t, plugintest.Config{
				NewFlow: newFlow,
				Binary:  bin,
				Good:    tt.good,
				Request: sdk.TokenRequest{Scopes: []string{tt.resource + "/.default"}},
				CheckToken: func(t testing.TB, tok sdk.Token) {
					c := verified(t, srv, tok)
					if c["appid"] != emulator.SystemAssignedClientID || c["aud"] != tt.resource {
						t.Errorf("claims %v: want the system-assigned identity's token for %s", c, tt.resource)
					}
				},
				Bad:     bad,
				Stalled: tt.stalled,
			})
		})
	}
}

// TestIdentities gets a token for each kind of identity from both sources.
func TestIdentities(t *testing.T) {
	srv := startIdP(t)
	oid := userAssignedOID(t, srv)
	rid := emulator.UserAssignedResourceID(userAssigned.Name)
	tests := []struct {
		name  string
		cfg   sdk.FlowConfig
		appid string
	}{
		{"imds system-assigned", imds(srv), emulator.SystemAssignedClientID},
		{"imds client_id", imds(srv, optClientID, userAssigned.ClientID), userAssigned.ClientID},
		{"imds object_id", imds(srv, optObjectID, oid), userAssigned.ClientID},
		{"imds resource_id", imds(srv, optResourceID, rid), userAssigned.ClientID},
		{"appservice system-assigned", appService(srv, emulator.IdentityHeader), emulator.SystemAssignedClientID},
		{"appservice client_id", appService(srv, emulator.IdentityHeader, optClientID, userAssigned.ClientID), userAssigned.ClientID},
		{"appservice object_id", appService(srv, emulator.IdentityHeader, optObjectID, oid), userAssigned.ClientID},
		{"appservice resource_id", appService(srv, emulator.IdentityHeader, optResourceID, rid), userAssigned.ClientID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resource := "api://identities-" + strings.ReplaceAll(tt.name, " ", "-")
			tok, err := configured(t, tt.cfg).GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{resource + "/.default"}}, sdk.Services{})
			if err != nil {
				t.Fatal(err)
			}
			c := verified(t, srv, tok)
			if c["appid"] != tt.appid || c["aud"] != resource || tok.Flow != flowName || tok.TokenType != "Bearer" {
				t.Errorf("token %+v with claims %v: want appid %s", tok, c, tt.appid)
			}
		})
	}
}

// userAssignedOID learns the user-assigned identity's object id from a
// token, as an operator would read it from the portal.
func userAssignedOID(t *testing.T, srv *emulator.Server) string {
	t.Helper()
	tok, err := configured(t, imds(srv, optClientID, userAssigned.ClientID)).GetToken(context.Background(),
		sdk.TokenRequest{Scopes: []string{"api://identities-oid/.default"}}, sdk.Services{})
	if err != nil {
		t.Fatal(err)
	}
	oid, _ := verified(t, srv, tok)["oid"].(string)
	if oid == "" {
		t.Fatal("no oid in the user-assigned identity's token")
	}
	return oid
}

func configured(t *testing.T, cfg sdk.FlowConfig) sdk.Flow {
	t.Helper()
	f := newFlow()
	if err := f.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return f
}

// TestErrors: what cannot run here is Unavailable, so a chain moves on;
// what is wrong is Failed, with a hint.
func TestErrors(t *testing.T) {
	srv := startIdP(t)
	scope := func(s string) sdk.TokenRequest {
		return sdk.TokenRequest{Scopes: []string{"api://errors-" + s + "/.default"}}
	}
	closedIMDS := sdk.FlowConfig{Options: map[string]string{optIMDSEndpoint: "http://" + closedAddr(t) + emulator.IMDSPath}}
	tests := []struct {
		name string
		cfg  sdk.FlowConfig
		req  sdk.TokenRequest
		kind sdk.Kind
		want string
	}{
		{"no IMDS here", closedIMDS, scope("closed"), sdk.KindUnavailable, "did not accept a connection"},
		{"no App Service endpoint here", appService(srv, emulator.IdentityHeader, optEndpoint, "http://"+closedAddr(t)+"/msi/token"), scope("closed-as"), sdk.KindUnavailable, "did not accept a connection"},
		{"identity not on this machine", imds(srv, optClientID, "00000000-0000-4000-8000-00000000dead"), scope("unknown"), sdk.KindUnavailable, "no such managed identity"},
		{"wrong identity header", appService(srv, "canary-wrong-header"), scope("header"), sdk.KindFailed, "identity_header"},
		{"unknown identity on App Service", appService(srv, emulator.IdentityHeader, optClientID, "00000000-0000-4000-8000-00000000dead"), scope("unknown-as"), sdk.KindFailed, "assigned to this app"},
		{"another tenant", imds(srv), sdk.TokenRequest{Scopes: scope("tenant").Scopes, TenantID: emulator.DefaultTenantID}, sdk.KindUnavailable, "own tenant"},
		{"two scopes", imds(srv), sdk.TokenRequest{Scopes: []string{"api://a/.default", "api://b/.default"}}, sdk.KindFailed, "one resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Count("imds") + srv.Count("appservice")
			_, err := configured(t, tt.cfg).GetToken(context.Background(), tt.req, sdk.Services{})
			if sdk.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (kind %v), want kind %v containing %q", err, sdk.KindOf(err), tt.kind, tt.want)
			}
			if strings.Contains(err.Error(), "canary") || strings.Contains(err.Error(), emulator.IdentityHeader) {
				t.Errorf("the identity header leaked into the error: %v", err)
			}
			if tt.kind == sdk.KindUnavailable && strings.Contains(tt.want, "connection") && srv.Count("imds")+srv.Count("appservice") != before {
				t.Error("an unreachable endpoint still reached the emulator")
			}
		})
	}
}

// TestProbeOnce: a successful probe is remembered, so later calls go
// straight to the endpoint.
func TestProbeOnce(t *testing.T) {
	srv := startIdP(t)
	f := configured(t, imds(srv))
	for i := range 2 {
		if _, err := f.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{"api://probe-" + string(rune('a'+i)) + "/.default"}}, sdk.Services{}); err != nil {
			t.Fatal(err)
		}
	}
	if !f.(*flow).state.reachable.Load() {
		t.Error("the successful probe was not remembered")
	}
}
