package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
)

// hostEnv is what the host sees as its environment: the plugin starts
// with a curated one, and gets the variables its Describe names from the
// host, through Configure.
func hostOptions(t testing.TB, config string, env map[string]string) *client.Options {
	env["CREDHOST_SYSTEM_CONFIG"] = filepath.Join(filepath.Dir(config), "no-system-config.toml")
	return &client.Options{
		ConfigPath: config,
		PluginDirs: []string{pluginDir(t)},
		Getenv:     func(k string) string { return env[k] },
	}
}

func writeCA(t testing.TB, srv *emulator.Server) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestPluginProcess gets system- and user-assigned identities' tokens
// from the emulator's IMDS and App Service endpoints through the real
// plugin process, its endpoints, header and DMI evidence coming only from
// the host's environment (the variables Describe names), and the user-
// assigned identity's client id from an env: reference.
func TestPluginProcess(t *testing.T) {
	srv := startIdP(t)
	dir := t.TempDir()
	ca := writeCA(t, srv)
	config := writeConfig(t, dir,
		miProfile("vm", ca, ""),
		miProfile("vmuser", ca, `client_id = "env:TEST_MI_CLIENT_ID"`),
		miProfile("app", ca, ""),
		miProfile("appuser", ca, `client_id = "env:TEST_MI_CLIENT_ID"`),
	)
	vm := map[string]string{
		envPodIdentityHost:  strings.TrimSuffix(srv.IMDSEndpoint(), imdsPath),
		envAssetTagFile:     assetTag(t, azureAssetTag),
		"TEST_MI_CLIENT_ID": userAssigned.ClientID,
	}
	app := map[string]string{
		envIdentityEndpoint: srv.IdentityEndpoint(),
		envIdentityHeader:   emulator.IdentityHeader,
		"TEST_MI_CLIENT_ID": userAssigned.ClientID,
	}
	for _, tt := range []struct {
		profile, counter, appid string
		env                     map[string]string
	}{
		{"vm", "imds", emulator.SystemAssignedClientID, vm},
		{"vmuser", "imds", userAssigned.ClientID, vm},
		{"app", "appservice", emulator.SystemAssignedClientID, app},
		{"appuser", "appservice", userAssigned.ClientID, app},
	} {
		t.Run(tt.profile, func(t *testing.T) {
			logs := &syncbuf.Buffer{}
			opts := hostOptions(t, config, tt.env)
			opts.Log = zerolog.New(logs).Level(zerolog.TraceLevel)
			c, err := client.Open(t.Context(), tt.profile, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			before := srv.Count(tt.counter)
			resource := "api://process-" + tt.profile
			tok, err := c.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{resource + "/.default"}})
			if err != nil {
				t.Fatal(err)
			}
			claims := verified(t, srv, tok)
			if tok.Flow != flowName || claims["appid"] != tt.appid || claims["aud"] != resource {
				t.Errorf("token from %s with claims %v, want the managed identity %s's token for %s", tok.Flow, claims, tt.appid, resource)
			}
			if srv.Count(tt.counter) == before {
				t.Errorf("no request reached the emulator's %s endpoint", tt.counter)
			}
			if strings.Contains(logs.String(), emulator.IdentityHeader) {
				t.Error("the identity header appears in the host and plugin logs")
			}
		})
	}
}

// unavailableBound is how long the tests let an off-Azure answer take: far
// above the 50 ms the benchmarks measure against, so a slow machine does
// not fail them, and far below the seconds MSAL's retries would take.
const unavailableBound = 5 * time.Second

// TestUnavailableOffAzure: on a machine whose DMI asset tag is not Azure's
// the flow is Unavailable at once, sending nothing to the IMDS endpoint,
// whether nothing listens there or a listener swallows requests; where
// there is no DMI at all, the probe decides within probe_timeout. All
// through the real plugin process.
func TestUnavailableOffAzure(t *testing.T) {
	dir := t.TempDir()
	silent := silentListener(t)
	refused := "http://" + closedAddr(t) + imdsPath
	config := writeConfig(t, dir,
		miProfile("refused", "", fmt.Sprintf("imds_endpoint = %q", refused)),
		miProfile("silent", "", fmt.Sprintf("imds_endpoint = %q", silent.endpoint())),
		miProfile("silentprobe", "", fmt.Sprintf("imds_endpoint = %q\nprobe_timeout = \"300ms\"", silent.endpoint())),
	)
	elsewhere := assetTag(t, "No Asset Tag")
	for _, tt := range []struct {
		name, profile, tag, want string
		conns                    bool
	}{
		{"not azure/refused", "refused", elsewhere, "asset tag", false},
		{"not azure/silent", "silent", elsewhere, "asset tag", false},
		{"no DMI/refused", "refused", elsewhere + ".absent", "gave no answer", false},
		{"no DMI/silent", "silentprobe", elsewhere + ".absent", "gave no answer", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.Open(t.Context(), tt.profile, hostOptions(t, config, map[string]string{envAssetTagFile: tt.tag}))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Start the plugin first: the bound is for the answer, not
			// for a cold process start on a busy machine.
			_, _ = c.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{"api://warm/.default"}})
			before := silent.conns.Load()
			began := time.Now()
			_, err = c.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{"api://off-azure/.default"}})
			took := time.Since(began)
			if sdk.KindOf(err) != sdk.KindUnavailable || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (kind %v), want Unavailable saying %q", err, sdk.KindOf(err), tt.want)
			}
			if took > unavailableBound {
				t.Errorf("Unavailable took %v, want well under %v", took, unavailableBound)
			}
			if got := silent.conns.Load() > before; got != tt.conns {
				t.Errorf("connected to the IMDS endpoint: %v, want %v", got, tt.conns)
			}
		})
	}
}

// BenchmarkManagedIdentityUnavailableRefused and
// BenchmarkManagedIdentityUnavailableSilent measure a chain call that
// finds no managed identity off Azure (the DMI asset tag is not Azure's),
// through the running plugin process, with IMDS pointed at a loopback
// port that refuses and at one that never answers.
func BenchmarkManagedIdentityUnavailableRefused(b *testing.B) {
	benchUnavailable(b, "http://"+closedAddr(b)+imdsPath)
}

func BenchmarkManagedIdentityUnavailableSilent(b *testing.B) {
	benchUnavailable(b, silentListener(b).endpoint())
}

func benchUnavailable(b *testing.B, endpoint string) {
	dir := b.TempDir()
	config := writeConfig(b, dir, miProfile("offazure", "", fmt.Sprintf("imds_endpoint = %q", endpoint)))
	c, err := client.Open(b.Context(), "offazure", hostOptions(b, config, map[string]string{envAssetTagFile: assetTag(b, "No Asset Tag")}))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := sdk.TokenRequest{Scopes: []string{"api://bench/.default"}}
	_, _ = c.GetToken(context.Background(), req) // start the plugin
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.GetToken(context.Background(), req); sdk.KindOf(err) != sdk.KindUnavailable {
			b.Fatalf("err = %v, want Unavailable", err)
		}
	}
}
