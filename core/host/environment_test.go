package host

import (
	"strings"
	"testing"

	"github.com/credhost/credhost/core"
)

// TestFlowEnvironment: a flow gets the values of exactly the variables its
// Describe names (a plugin built before the field names none and gets
// none), never the host's own credentials, and a plain option written
// env:NAME arrives as the value.
func TestFlowEnvironment(t *testing.T) {
	dir := t.TempDir()
	f := writeConfig(t, dir, profile("ok", "")+`label = "env:TEST_LABEL"`+"\n")
	env := map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi", "AZURE_CLIENT_SECRET": "canary-secret", "TEST_LABEL": "blue"}
	h := New(f, &Options{PluginDirs: []string{dir}, Getenv: func(k string) string { return env[k] }})
	t.Cleanup(func() { _ = h.Close() })
	m := &member{host: h, profile: f.Profiles["p"], flow: "fakeflow"}
	opts := []core.OptionSpec{{Name: "mode"}, {Name: "label"}}

	cfg, err := m.flowConfig(core.Description{Name: "fakeflow", Options: opts, Environment: []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_CLIENT_SECRET"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Environment) != 1 || cfg.Environment["IDENTITY_ENDPOINT"].Reveal() != env["IDENTITY_ENDPOINT"] {
		t.Errorf("environment %v, want IDENTITY_ENDPOINT only (IDENTITY_HEADER is unset, AZURE_CLIENT_SECRET withheld)", cfg.Environment)
	}
	if cfg.Options["label"] != "blue" || cfg.Options["mode"] != "ok" {
		t.Errorf("options %v, want label from $TEST_LABEL and mode as written", cfg.Options)
	}

	cfg, err = m.flowConfig(core.Description{Name: "fakeflow", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Environment) != 0 {
		t.Errorf("a flow that names no variables got %v", cfg.Environment)
	}

	delete(env, "TEST_LABEL")
	_, err = m.flowConfig(core.Description{Name: "fakeflow", Options: opts})
	if err == nil || !strings.Contains(err.Error(), "TEST_LABEL") || !strings.Contains(err.Error(), "profiles.p.fakeflow.label") {
		t.Errorf("unset env: reference: err = %v, want it named with its key", err)
	}
}
