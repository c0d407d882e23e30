package main

import (
	"context"
	"strings"
	"testing"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/plugintest"
)

// TestConformance runs the SDK's conformance kit, in-process and through
// the built plugin, with IMDS and with App Service.
func TestConformance(t *testing.T) {
	srv := startIdP(t)
	bin := testbin.Build(t, "./plugins/managedidentity", "credhost-plugin-managedidentity")
	azure := assetTag(t, azureAssetTag)
	bad := []plugintest.Bad{
		{Name: "two identities", Config: imds(t, srv, optClientID, userAssigned.ClientID, optResourceID, "/subscriptions/x"), Fields: []string{optResourceID}},
		{Name: "client id not a GUID", Config: imds(t, srv, optClientID, "build-agent"), Fields: []string{optClientID}},
		{Name: "object id not a GUID", Config: imds(t, srv, optObjectID, "x"), Fields: []string{optObjectID}},
		{Name: "resource id not an ARM id", Config: imds(t, srv, optResourceID, "build-agent"), Fields: []string{optResourceID}},
		{Name: "endpoint without header", Config: sdk.FlowConfig{Options: map[string]string{optEndpoint: srv.IdentityEndpoint()}}, Fields: []string{optIdentityHeader}},
		{Name: "header without endpoint", Config: sdk.FlowConfig{Secrets: map[string]sdk.Secret{optIdentityHeader: sdk.NewSecret("canary-lonely-header")}}, Fields: []string{optIdentityHeader}},
		{Name: "both endpoints", Config: sdk.FlowConfig{Options: map[string]string{optEndpoint: srv.IdentityEndpoint(), optIMDSEndpoint: srv.IMDSEndpoint()},
			Secrets: map[string]sdk.Secret{optIdentityHeader: sdk.NewSecret("canary-header-1")}}, Fields: []string{optIMDSEndpoint}},
		{Name: "not URLs", Config: imds(t, srv, optIMDSEndpoint, "169.254.169.254"), Fields: []string{optIMDSEndpoint}},
		{Name: "pod identity host not a URL", Config: sdk.FlowConfig{Environment: env(envPodIdentityHost, "169.254.169.254")}, Fields: []string{""}},
		{Name: "bad probe timeout", Config: imds(t, srv, optProbeTimeout, "forever"), Fields: []string{optProbeTimeout}},
		{Name: "bad CA", Config: sdk.FlowConfig{CACertificates: []byte("junk")}, Fields: []string{"ca_file"}},
	}
	for _, tt := range []struct {
		name     string
		good     sdk.FlowConfig
		resource string
		stalled  func(addr string) sdk.FlowConfig
	}{
		{"imds", imds(t, srv), "api://conformance-imds", func(addr string) sdk.FlowConfig {
			return sdk.FlowConfig{Options: map[string]string{optIMDSEndpoint: "http://" + addr + imdsPath}, Environment: env(envAssetTagFile, azure)}
		}},
		{"appservice", appService(srv, emulator.IdentityHeader), "api://conformance-appservice", func(addr string) sdk.FlowConfig {
			return sdk.FlowConfig{Environment: env(envIdentityEndpoint, "http://"+addr+emulator.AppServicePath, envIdentityHeader, "canary-stalled-header")}
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

// TestIdentities gets a token for each kind of identity from IMDS and
// from App Service, the endpoint given by the platform's variables or by
// the profile's options.
func TestIdentities(t *testing.T) {
	srv := startIdP(t)
	oid := userAssignedOID(t, srv)
	rid := emulator.UserAssignedResourceID(userAssigned.Name)
	byOptions := func(kv ...string) sdk.FlowConfig {
		cfg := sdk.FlowConfig{Options: map[string]string{optEndpoint: srv.IdentityEndpoint()},
			Secrets: map[string]sdk.Secret{optIdentityHeader: sdk.NewSecret(emulator.IdentityHeader)}, CACertificates: srv.CACertPEM(),
			// The options win over what the platform set.
			Environment: env(envIdentityEndpoint, "http://"+closedAddr(t)+"/msi/token", envIdentityHeader, "canary-platform-header")}
		for i := 0; i+1 < len(kv); i += 2 {
			cfg.Options[kv[i]] = kv[i+1]
		}
		return cfg
	}
	podIdentity := sdk.FlowConfig{CACertificates: srv.CACertPEM(),
		Environment: env(envPodIdentityHost, strings.TrimSuffix(srv.IMDSEndpoint(), imdsPath), envAssetTagFile, assetTag(t, azureAssetTag))}
	tests := []struct {
		name  string
		cfg   sdk.FlowConfig
		appid string
	}{
		{"imds system-assigned", imds(t, srv), emulator.SystemAssignedClientID},
		{"imds client_id", imds(t, srv, optClientID, userAssigned.ClientID), userAssigned.ClientID},
		{"imds object_id", imds(t, srv, optObjectID, oid), userAssigned.ClientID},
		{"imds resource_id", imds(t, srv, optResourceID, rid), userAssigned.ClientID},
		{"imds at AZURE_POD_IDENTITY_AUTHORITY_HOST", podIdentity, emulator.SystemAssignedClientID},
		{"appservice system-assigned", appService(srv, emulator.IdentityHeader), emulator.SystemAssignedClientID},
		{"appservice client_id", appService(srv, emulator.IdentityHeader, optClientID, userAssigned.ClientID), userAssigned.ClientID},
		{"appservice object_id", appService(srv, emulator.IdentityHeader, optObjectID, oid), userAssigned.ClientID},
		{"appservice resource_id", appService(srv, emulator.IdentityHeader, optResourceID, rid), userAssigned.ClientID},
		{"appservice by options", byOptions(optClientID, userAssigned.ClientID), userAssigned.ClientID},
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
	tok, err := configured(t, imds(t, srv, optClientID, userAssigned.ClientID)).GetToken(context.Background(),
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

func configured(t testing.TB, cfg sdk.FlowConfig) sdk.Flow {
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
	elsewhere := assetTag(t, "No Asset Tag")
	offAzure := sdk.FlowConfig{Options: map[string]string{optIMDSEndpoint: "http://" + closedAddr(t) + imdsPath}, Environment: env(envAssetTagFile, elsewhere)}
	noDMI := sdk.FlowConfig{Options: map[string]string{optIMDSEndpoint: "http://" + closedAddr(t) + imdsPath}, Environment: env(envAssetTagFile, elsewhere+".absent")}
	tests := []struct {
		name string
		cfg  sdk.FlowConfig
		req  sdk.TokenRequest
		kind sdk.Kind
		want string
	}{
		{"not an Azure VM", offAzure, scope("off-azure"), sdk.KindUnavailable, "asset tag"},
		{"no DMI and no IMDS", noDMI, scope("no-dmi"), sdk.KindUnavailable, "gave no answer"},
		{"App Service endpoint refuses", withEnv(appService(srv, emulator.IdentityHeader), envIdentityEndpoint, "http://"+closedAddr(t)+"/msi/token"), scope("closed-as"), sdk.KindUnavailable, "did not answer"},
		{"identity not on this machine", imds(t, srv, optClientID, "00000000-0000-4000-8000-00000000dead"), scope("unknown"), sdk.KindUnavailable, "no such managed identity"},
		{"wrong identity header", appService(srv, "canary-wrong-header"), scope("header"), sdk.KindFailed, "IDENTITY_HEADER"},
		{"unknown identity on App Service", appService(srv, emulator.IdentityHeader, optClientID, "00000000-0000-4000-8000-00000000dead"), scope("unknown-as"), sdk.KindFailed, "assigned to this resource"},
		{"another tenant", imds(t, srv), sdk.TokenRequest{Scopes: scope("tenant").Scopes, TenantID: emulator.DefaultTenantID}, sdk.KindUnavailable, "own tenant"},
		{"two scopes", imds(t, srv), sdk.TokenRequest{Scopes: []string{"api://a/.default", "api://b/.default"}}, sdk.KindFailed, "one resource"},
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
			if tt.kind == sdk.KindUnavailable && tt.want != "no such managed identity" && srv.Count("imds")+srv.Count("appservice") != before {
				t.Error("an unreachable endpoint still reached the emulator")
			}
		})
	}
}

// TestCheck: doctor learns, without a network call, that a machine whose
// asset tag is not Azure's has no managed identity, and that one whose
// variables name a source has.
func TestCheck(t *testing.T) {
	srv := startIdP(t)
	silent := silentListener(t)
	for _, tt := range []struct {
		name string
		cfg  sdk.FlowConfig
		kind sdk.Kind // KindFailed: no error
	}{
		{"azure vm", imds(t, srv), sdk.KindFailed},
		{"app service", appService(srv, emulator.IdentityHeader), sdk.KindFailed},
		{"elsewhere", sdk.FlowConfig{Options: map[string]string{optIMDSEndpoint: silent.endpoint()}, Environment: env(envAssetTagFile, assetTag(t, "No Asset Tag"))}, sdk.KindUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := configured(t, tt.cfg).(interface {
				Check(context.Context, sdk.Services) error
			}).Check(context.Background(), sdk.Services{})
			if (err == nil) != (tt.kind == sdk.KindFailed) || (err != nil && sdk.KindOf(err) != tt.kind) {
				t.Fatalf("Check = %v, want kind %v", err, tt.kind)
			}
		})
	}
	if n := silent.conns.Load(); n != 0 {
		t.Errorf("Check connected to IMDS %d times", n)
	}
}

// withEnv returns cfg with variable k set to v.
func withEnv(cfg sdk.FlowConfig, k, v string) sdk.FlowConfig {
	cfg.Environment[k] = sdk.NewSecret(v)
	return cfg
}
