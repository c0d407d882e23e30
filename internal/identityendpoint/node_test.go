package identityendpoint_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/credhost/credhost/internal/identityendpoint"
	"github.com/credhost/credhost/internal/testkit/azuritetest"
	"github.com/credhost/credhost/internal/testkit/npmtest"
)

// The Azure SDK for JavaScript versions the test runs, pinned.
var nodePackages = []string{"@azure/identity@4.14.1", "@azure/storage-blob@12.34.0"}

// TestNodeAzureSDK: the real @azure/identity (npm) ManagedIdentityCredential
// and DefaultAzureCredential, told only IDENTITY_ENDPOINT and
// IDENTITY_HEADER, get a credhost token through the endpoint, and
// @azure/storage-blob creates and lists containers on Azurite (which
// checks the token's issuer, audience and lifetime) with it. A wrong
// header makes the SDK fail, with nothing issued.
func TestNodeAzureSDK(t *testing.T) {
	node := npmtest.Node(t)
	dir := npmtest.Install(t, "azure-sdk-js", nodePackages...)
	az := azuritetest.Start(t)
	e := startEndpoint(t, "https://storage.azure.com")
	tmp := t.TempDir()
	ca := filepath.Join(tmp, "azurite.pem")
	if err := os.WriteFile(ca, az.CACertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("testdata/azure-sdk.cjs")
	if err != nil {
		t.Fatal(err)
	}
	run := func(header string, blobs bool) (map[string]any, string, error) {
		env := []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + tmp,
			"NODE_PATH=" + filepath.Join(dir, "node_modules"),
			"NODE_EXTRA_CA_CERTS=" + ca,
			identityendpoint.EnvEndpoint + "=" + e.base,
			identityendpoint.EnvHeader + "=" + header,
			// Azurite is on loopback; nothing else may be reached.
			"NO_PROXY=*",
		}
		if blobs {
			env = append(env, "BLOB_URL="+az.URL, "CONTAINER=credhost-node")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, script)
		cmd.Env, cmd.Dir = env, tmp
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var res map[string]any
		if err == nil {
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("output %q: %v", out.String(), err)
			}
		}
		return res, errb.String(), err
	}

	e.srv.ResetCounts()
	res, stderr, err := run(e.ep.Secret().Reveal(), true)
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr)
	}
	tokens, _ := res["tokens"].(map[string]any)
	for _, name := range []string{"ManagedIdentityCredential", "DefaultAzureCredential"} {
		tok, _ := tokens[name].(map[string]any)
		raw, _ := tok["token"].(string)
		claims, err := e.srv.VerifyAccessToken(raw)
		if err != nil || claims["aud"] != "https://storage.azure.com" {
			t.Errorf("%s: claims %v, err %v", name, claims, err)
		}
		if exp, _ := tok["expiresOnTimestamp"].(float64); time.UnixMilli(int64(exp)).Before(time.Now()) {
			t.Errorf("%s: expires %v", name, exp)
		}
	}
	containers, _ := res["containers"].([]any)
	if !slices.Contains(containers, any("credhost-node")) {
		t.Errorf("containers %v", containers)
	}
	// credhost cached the token: the IdP was asked once for everything.
	if n := e.srv.Count("token:client_credentials"); n != 1 {
		t.Errorf("the emulator saw %d token requests, want 1", n)
	}

	e.srv.ResetCounts()
	if _, stderr, err := run("not-the-secret", false); err == nil {
		t.Fatal("the SDK got a token with a wrong header")
	} else if !bytes.Contains([]byte(stderr), []byte("403")) && !bytes.Contains([]byte(stderr), []byte("wrong X-IDENTITY-HEADER")) {
		t.Errorf("the SDK's error does not show the refusal:\n%s", stderr)
	}
	if n := e.srv.Count("token:client_credentials"); n != 0 {
		t.Errorf("the emulator issued %d tokens for a refused request", n)
	}
}
