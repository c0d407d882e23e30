package main

// End-to-end tests of a cloned repository's .credhost.toml (issue 18):
// the real CLI and clientcreds plugin, the user's IdP (an emulator) and
// the project's "evil" IdP (a second emulator, trusted by the user's CA
// file so that only credhost's rules stand between a secret and it).

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

type projectWorld struct {
	*world
	evil             *emulator.Server
	user, proj, home string
}

// newProjectWorld writes a user config with profile p (its secret an env:
// reference) trusting the project directory when trust is set.
func newProjectWorld(t *testing.T, trust bool) *projectWorld {
	w := &projectWorld{world: newWorld(t), evil: emulatortest.Start(t, emulator.DefaultConfig())}
	w.home = w.dir
	w.proj = filepath.Join(w.dir, "src", "app")
	if err := os.MkdirAll(w.proj, 0o755); err != nil {
		t.Fatal(err)
	}
	// One CA file trusting both: TLS would not stop a leak.
	if err := os.WriteFile(filepath.Join(w.dir, "ca.pem"), append(w.srv.CACertPEM(), w.evil.CACertPEM()...), 0o644); err != nil {
		t.Fatal(err)
	}
	body := `[defaults]
ca_file = "ca.pem"
timeout = "30s"

[profiles.p]
authority = "` + w.srv.Authority(tenantID) + `"
client_id = "` + clientID + `"
chain = ["clientcreds"]
[profiles.p.clientcreds]
client_secret = "env:CI_SECRET"
`
	if trust {
		body += "\n[projects]\ntrusted = [" + strconv.Quote(w.proj) + "]\n"
	}
	w.user = filepath.Join(w.dir, "config.toml")
	if err := os.WriteFile(w.user, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// runIn runs credhost in the project directory, with the user's secret
// in the environment twice: as the user file's reference and as
// AZURE_CLIENT_SECRET.
func (w *projectWorld) runIn(project string, args ...string) result {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.proj, ".credhost.toml"), []byte(strings.ReplaceAll(project, "EVIL", w.evil.Authority(tenantID))), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return w.runCmd(append([]string{"token", "--config", w.user, "--scope", scope}, args...)...)
}

// runCmd runs credhost in the project directory.
func (w *projectWorld) runCmd(args ...string) result {
	w.t.Helper()
	cmd := exec.Command(w.cli, args...)
	cmd.Dir = w.proj
	cmd.Env = []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.home, "CI_SECRET=" + secret, "AZURE_CLIENT_SECRET=" + secret}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// TestProjectFileAttacksE2E: each attack of issue 18 is refused before
// any plugin runs, naming the project file's line; the project's IdP
// never gets a request (so no secret), and no command runs.
func TestProjectFileAttacksE2E(t *testing.T) {
	w := newProjectWorld(t, true)
	marker := filepath.Join(w.dir, "pwned")
	tests := []struct {
		name, project, key string
		args               []string
	}{
		{"the user profile's authority", "[profiles.p]\nauthority = \"EVIL\"\n", "profiles.p.authority", nil},
		{"[defaults] ca_file", "[defaults]\nca_file = \"evil-ca.pem\"\n", "defaults.ca_file", nil},
		{"a browser in the user's profile", "[profiles.p.authcode]\nbrowser = \"sh -c 'touch " + marker + "'\"\n", "profiles.p.authcode.browser", nil},
		{"a browser in its own profile", "[profiles.app]\nauthority = \"EVIL\"\nclient_id = \"" + clientID + "\"\nchain = [\"authcode\"]\n[profiles.app.authcode]\nbrowser = \"sh -c 'touch " + marker + "'\"\n",
			"profiles.app.authcode.browser", []string{"--profile", "app"}},
		{"a pin replacing the user's", "[plugins.pins]\nclientcreds = \"sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\"\n", "plugins.pins.clientcreds", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.runIn(tt.project, tt.args...)
			if r.code == 0 || !strings.Contains(r.stderr, filepath.Join(w.proj, ".credhost.toml")) || !strings.Contains(r.stderr, tt.key) || !strings.Contains(r.stderr, "a project file") {
				t.Fatalf("exit %d, want a refusal of %s:\n%s", r.code, tt.key, r.stderr)
			}
			if strings.Contains(r.stderr, "plugin started") {
				t.Errorf("a plugin started:\n%s", r.stderr)
			}
		})
	}
	if n := w.evil.Count("token"); n != 0 {
		t.Errorf("the project's IdP got %d token requests", n)
	}
	if n := w.srv.Count("token"); n != 0 {
		t.Errorf("the user's IdP got %d token requests from refused configs", n)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the project's browser command ran")
	}
}

// TestProjectProfileNeverGetsASecret: a profile the project defines
// (allowed) pointing at the project's IdP gets neither the user's
// AZURE_CLIENT_SECRET nor any other secret: clientcreds has no credential
// for it, and the project's IdP gets no request. The user's own profile
// still works in the same directory.
func TestProjectProfileNeverGetsASecret(t *testing.T) {
	w := newProjectWorld(t, true)
	project := "[profiles.app]\nauthority = \"EVIL\"\nclient_id = \"" + clientID + "\"\nchain = [\"clientcreds\"]\n"
	r := w.runIn(project, "--profile", "app")
	if r.code == 0 {
		t.Fatalf("the project's profile got a token:\n%s", r.stderr)
	}
	if n := w.evil.Count("token"); n != 0 {
		t.Fatalf("the project's IdP got %d token requests:\n%s", n, r.stderr)
	}
	if r := w.runIn(project, "--profile", "p"); r.code != 0 || w.srv.Count("token") != 1 {
		t.Fatalf("the user's profile: exit %d, %d requests:\n%s", r.code, w.srv.Count("token"), r.stderr)
	}
}

// TestUntrustedProjectIsNotRead: without the user's consent the project
// file is not read at all, attack or not; credhost works as without it.
func TestUntrustedProjectIsNotRead(t *testing.T) {
	w := newProjectWorld(t, false)
	r := w.runIn("[profiles.p]\nauthority = \"EVIL\"\n[plugins.pins]\nclientcreds = \"sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\"\n", "--profile", "p")
	if r.code != 0 || w.evil.Count("token") != 0 || w.srv.Count("token") != 1 {
		t.Fatalf("exit %d, evil requests %d, user's %d:\n%s", r.code, w.evil.Count("token"), w.srv.Count("token"), r.stderr)
	}
	own := "[profiles.app]\nauthority = \"" + w.srv.Authority(tenantID) + "\"\nclient_id = \"" + clientID + "\"\nchain = [\"clientcreds\"]\n"
	r = w.runIn(own, "--profile", "app")
	if r.code == 0 || !strings.Contains(r.stderr, "[projects] trusted") {
		t.Fatalf("exit %d, want a hint to trust the project:\n%s", r.code, r.stderr)
	}
	// credhost config trust, run in the project, is the consent.
	if r := w.runCmd("config", "trust", "--config", w.user); r.code != 0 || !strings.Contains(r.stderr, "trusted "+w.proj) {
		t.Fatalf("config trust: exit %d:\n%s", r.code, r.stderr)
	}
	r = w.runCmd("config", "show", "--config", w.user, "--profile", "app")
	if r.code != 0 || !strings.Contains(r.stdout, "# profile: app") {
		t.Fatalf("after config trust: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}
