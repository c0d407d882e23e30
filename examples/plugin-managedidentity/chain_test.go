package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/sdk"
)

// TestChain runs the chain [managedidentity, clientcreds] through real
// plugin processes, as an embedder would with sdk.Open: the managed
// identity answers where its endpoint is, and where it is not the chain
// falls through to client credentials.
func TestChain(t *testing.T) {
	srv := startIdP(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	profile := func(name, mi string) string {
		return fmt.Sprintf(`
[profiles.%[1]s]
authority = %[2]q
client_id = %[3]q
chain     = ["managedidentity", "clientcreds"]
ca_file   = %[4]q
[profiles.%[1]s.clientcreds]
client_secret = "env:TEST_CLIENT_SECRET"
[profiles.%[1]s.managedidentity]
%[5]s
`, name, srv.Authority(emulator.DefaultTenantID), emulator.DefaultClientID, ca, mi)
	}
	config := profile("vm", fmt.Sprintf("imds_endpoint = %q", srv.IMDSEndpoint())) +
		profile("app", fmt.Sprintf("endpoint = %q\nidentity_header = \"env:TEST_IDENTITY_HEADER\"\nclient_id = %q", srv.IdentityEndpoint(), userAssigned.ClientID)) +
		profile("laptop", fmt.Sprintf("imds_endpoint = %q", "http://"+closedAddr(t)+emulator.IMDSPath)) +
		"[cache]\nbackend = \"memory\"\n"
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"TEST_CLIENT_SECRET":     emulator.DefaultClientSecret,
		"TEST_IDENTITY_HEADER":   emulator.IdentityHeader,
		"CREDHOST_SYSTEM_CONFIG": filepath.Join(dir, "no-system-config.toml"),
	}
	logs := &syncBuffer{}
	opts := &sdk.Options{
		ConfigPath: path,
		PluginDirs: []string{pluginDir(t)},
		Getenv:     func(k string) string { return env[k] },
		Log:        zerolog.New(logs).Level(zerolog.TraceLevel),
	}
	tests := []struct {
		profile, flow, appid string
	}{
		{"vm", "managedidentity", emulator.SystemAssignedClientID},
		{"app", "managedidentity", userAssigned.ClientID},
		{"laptop", "clientcreds", emulator.DefaultClientID},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			c, err := sdk.Open(tt.profile, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			resource := "api://chain-" + tt.profile
			tok, err := c.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{resource + "/.default"}})
			if err != nil {
				t.Fatal(err)
			}
			claims := verified(t, srv, tok)
			if tok.Flow != tt.flow || claims["appid"] != tt.appid || claims["aud"] != resource {
				t.Errorf("token from %s with claims %v, want %s's token for appid %s", tok.Flow, claims, tt.flow, tt.appid)
			}
		})
	}
	for _, secret := range []string{emulator.IdentityHeader, emulator.DefaultClientSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a secret appears in the host and plugin logs")
		}
	}
}

// syncBuffer collects log lines written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
