package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

// binDir names, in the network namespace's re-run, the directory the
// parent built credhost and its plugins into (the namespace has no
// network for the module proxy).
const binDir = "CREDHOST_AZ_TEST_BIN"

// TestRealAzureCLIDefaultChain: with no config file, no AZURE_* variable
// and managed identity pointed at a loopback port that refuses, the real
// az, signed in to the emulator, wins credhost's default chain; the
// members before it are skipped or unavailable, each saying why. With
// AZURE_TOKEN_CREDENTIALS=prod az is never asked.
func TestRealAzureCLIDefaultChain(t *testing.T) {
	if !loopbackNetns(t, "TestRealAzureCLIDefaultChain", func() []string {
		bin := t.TempDir()
		testbin.Copy(t, testbin.Build(t, "./cmd/credhost", "credhost"), bin)
		for _, flow := range []string{"clientcreds", "ropc", "managedidentity", "azurecli"} {
			testbin.Copy(t, testbin.Build(t, "./plugins/"+flow, "credhost-plugin-"+flow), bin)
		}
		return []string{binDir + "=" + bin}
	}) {
		return
	}
	srv, configDir, bundle, _ := signedInAz(t)
	home := t.TempDir()
	run := func(extra ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(os.Getenv(binDir), "credhost"), "token", "--scope", "https://management.azure.com/.default", "-o", "json")
		cmd.Env = append([]string{"CREDHOST_AGENT=off", "PATH=/usr/bin:/bin", "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "xdg"),
			"CREDHOST_LOG_FORMAT=json", "CREDHOST_LOG_LEVEL=info",
			"AZURE_CONFIG_DIR=" + configDir, "REQUESTS_CA_BUNDLE=" + bundle,
			"HTTPS_PROXY=" + os.Getenv("HTTPS_PROXY"), "HTTP_PROXY=" + os.Getenv("HTTP_PROXY"), "NO_PROXY=" + os.Getenv("NO_PROXY"),
			// Managed identity: an App Service endpoint that refuses.
			"IDENTITY_ENDPOINT=http://127.0.0.1:1/msi/token", "IDENTITY_HEADER=x",
		}, extra...)
		cmd.Dir = home
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	// prod first: the token az would give is not yet in credhost's cache.
	if out, stderr, code := run("AZURE_TOKEN_CREDENTIALS=prod"); code == 0 || strings.Contains(stderr, "azurecli") {
		t.Errorf("prod with a signed-in az: exit %d\n%s\n%s", code, out, stderr)
	}

	out, stderr, code := run()
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		Flow        string `json:"flow"`
	}
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	claims, err := srv.VerifyAccessToken(tok.AccessToken)
	if err != nil || tok.Flow != "azurecli" || claims["appid"] != emulator.DefaultClientID {
		t.Fatalf("flow %q, claims %v, %v\n%s", tok.Flow, claims, err, stderr)
	}
	// Managed identity ran and was unavailable; the chain moved on.
	if !strings.Contains(stderr, `"flow":"managedidentity"`) || !strings.Contains(stderr, `"kind":"unavailable"`) {
		t.Errorf("no unavailable managedidentity attempt in the log:\n%s", stderr)
	}

	// Why the members before az gave no token.
	cmd := exec.Command(filepath.Join(os.Getenv(binDir), "credhost"), "doctor", "-o", "json")
	cmd.Env = []string{"CREDHOST_AGENT=off", "PATH=/usr/bin:/bin", "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "xdg"),
		"AZURE_CONFIG_DIR=" + configDir, "IDENTITY_ENDPOINT=http://127.0.0.1:1/msi/token", "IDENTITY_HEADER=x"}
	cmd.Dir = home
	docOut, _ := cmd.Output()
	var doc struct {
		Chain []struct{ Flow, Status, Reason string }
	}
	if err := json.Unmarshal(docOut, &doc); err != nil {
		t.Fatalf("doctor: %v\n%s", err, docOut)
	}
	got := map[string]string{}
	for _, m := range doc.Chain {
		got[m.Flow] = m.Status + ": " + m.Reason
	}
	for flow, want := range map[string]string{
		"EnvironmentCredential":      "AZURE_TENANT_ID and AZURE_CLIENT_ID are not set",
		"WorkloadIdentityCredential": "AZURE_FEDERATED_TOKEN_FILE not set",
	} {
		if !strings.HasPrefix(got[flow], "unavailable") || !strings.Contains(got[flow], want) {
			t.Errorf("doctor: %s: %q, want unavailable (%s)\n%s", flow, got[flow], want, docOut)
		}
	}
	t.Logf("doctor: %v", got)
}
