package client_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/host"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
)

// TestPluginDiscoveryLikeTheCLI: the sdk finds plugins where the CLI does
// (host.PluginDirs): through $CREDHOST_PLUGIN_DIR, and in the install
// location `make install` fills, found through the credhost-cli on PATH.
func TestPluginDiscoveryLikeTheCLI(t *testing.T) {
	_, file, dir := benchSetup(t)
	getenv := func(vars ...string) func(string) string {
		return func(k string) string {
			for _, kv := range vars {
				if v, ok := strings.CutPrefix(kv, k+"="); ok {
					return v
				}
			}
			return ""
		}
	}
	get := func(c *client.Client, err error) error {
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{graph}})
		return err
	}

	t.Run("CREDHOST_PLUGIN_DIR", func(t *testing.T) {
		if err := get(client.New(t.Context(), file, "bench", &client.Options{Getenv: getenv("PATH=/usr/bin:/bin", config.EnvPluginDir+"="+dir)})); err != nil {
			t.Fatal(err)
		}
		// Without it, nothing (the test binary's own directory has no
		// plugins): the error says where it looked and what to set.
		err := get(client.New(t.Context(), file, "bench", &client.Options{Getenv: getenv("PATH=/usr/bin:/bin")}))
		if !errors.Is(err, host.ErrPluginNotFound) || !strings.Contains(err.Error(), config.EnvPluginDir) {
			t.Fatalf("no plugin dir: %v", err)
		}
		// A relative PATH entry is never searched: a plugin in the working
		// directory is not found.
		t.Chdir(dir)
		if err := get(client.New(t.Context(), file, "bench", &client.Options{Getenv: getenv("PATH=.::bin")})); !errors.Is(err, host.ErrPluginNotFound) {
			t.Fatalf("relative PATH: %v", err)
		}
	})

	t.Run("make install", func(t *testing.T) {
		if _, err := exec.LookPath("make"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("make is not installed (CI must have it)")
			}
			t.Skip("make is not installed")
		}
		tmp := t.TempDir()
		prefix, cfg := filepath.Join(tmp, "prefix"), filepath.Join(tmp, "config.toml")
		body, err := os.ReadFile(file.Path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, body, 0o600); err != nil {
			t.Fatal(err)
		}
		// What `make install` installs after `make build`: the binaries
		// the tests built, under the names the build gives them.
		build := filepath.Join(tmp, "build")
		if err := os.Mkdir(build, 0o755); err != nil {
			t.Fatal(err)
		}
		for src, name := range map[string]string{
			testbin.Build(t, "./cmd/credhost", "credhost"):           "credhost-cli",
			testbin.Build(t, "./cmd/credhost/fast", "credhost-fast"): "credhost",
			filepath.Join(dir, host.BinaryName("clientcreds")):       host.BinaryName("clientcreds"),
		} {
			testbin.CopyAs(t, src, build, name)
		}
		cmd := exec.Command("make", "install-bin", "PREFIX="+prefix, "BIN="+build, "PLUGINS=clientcreds", "PIN_CONFIG="+cfg)
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
		pinned, err := os.ReadFile(cfg)
		if err != nil || !strings.Contains(string(pinned), "[plugins.pins]") || !strings.Contains(string(pinned), "clientcreds = \"sha256:") {
			t.Fatalf("make install recorded no pins in %s:\n%s", cfg, pinned)
		}
		if _, err := os.Stat(filepath.Join(prefix, "libexec", "credhost", host.BinaryName("clientcreds"))); err != nil {
			t.Fatal(err)
		}
		// The sdk: only PATH leads to the installation.
		env := getenv("PATH=" + filepath.Join(prefix, "bin") + ":/usr/bin:/bin")
		if err := get(client.Open(t.Context(), "bench", &client.Options{ConfigPath: cfg, Getenv: env})); err != nil {
			t.Fatalf("sdk after make install: %v", err)
		}
		// The CLI finds the same plugins from its own location.
		cli := exec.Command(filepath.Join(prefix, "bin", "credhost"), "token", "--config", cfg, "-p", "bench", "-s", graph)
		cli.Env = []string{"CREDHOST_AGENT=off", "PATH=/usr/bin:/bin", "HOME=" + tmp}
		if out, err := cli.CombinedOutput(); err != nil {
			t.Fatalf("credhost after make install: %v\n%s", err, out)
		}
	})
}
