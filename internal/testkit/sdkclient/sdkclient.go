// Package sdkclient gives tests an sdk client that gets app tokens from
// an emulator: one profile "app" whose chain is the real clientcreds
// plugin process, with the emulator's default app and secret and a
// memory cache. It is the first piece of internal/testkit, where test
// helpers shared across packages live.
package sdkclient

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk/client"
)

// Profile is the name of the client's one profile.
const Profile = "app"

// ClientCreds returns an sdk client for profile "app" against srv,
// closed when the test ends.
func ClientCreds(t testing.TB, srv *emulator.Server) *client.Client {
	t.Helper()
	bin := testbin.Build(t, "./plugins/clientcreds", "credhost-plugin-clientcreds")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`[profiles.app]
authority = %q
client_id = %q
chain = ["clientcreds"]
ca_file = %q
[profiles.app.clientcreds]
client_secret = %q
[cache]
backend = "memory"
`, srv.Authority(emulator.DefaultTenantID), emulator.DefaultClientID, ca, emulator.DefaultClientSecret)
	file, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(t.Context(), file, Profile, &client.Options{PluginDirs: []string{filepath.Dir(bin)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
