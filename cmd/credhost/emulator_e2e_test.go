package main_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/azuritetest"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/azure"
	"github.com/credhost/credhost/sdk/jwtpeek"
)

// noAgent keeps the credhost this file starts in-process (e2e_test.go).
const noAgent = "CREDHOST_AGENT=off"

// runningEmulator is `credhost emulator` started as a process.
type runningEmulator struct {
	cli, dir string
	env      map[string]string // its --print-env exports
	stderr   *syncbuf.Buffer
}

// startEmulatorCommand runs `credhost emulator --print-env` with extra
// flags until the test ends, and reads its exports.
func startEmulatorCommand(t *testing.T, extra ...string) *runningEmulator {
	t.Helper()
	cli := testbin.Build(t, "./cmd/credhost", "credhost")
	dir := t.TempDir()
	args := append([]string{"emulator", "--ca-file", filepath.Join(dir, "ca.pem"), "--url-file", filepath.Join(dir, "url"), "--print-env"}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + dir}
	e := &runningEmulator{cli: cli, dir: dir, env: map[string]string{}, stderr: &syncbuf.Buffer{}}
	cmd.Stderr = e.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(60 * time.Second)
	for len(e.env) < 7 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("credhost emulator ended; stderr:\n%s", e.stderr.String())
			}
			k, v, ok := strings.Cut(strings.TrimPrefix(l, "export "), "=")
			if !ok {
				t.Fatalf("not an export: %q", l)
			}
			e.env[k] = strings.Trim(v, "'")
		case <-deadline:
			t.Fatalf("no exports from credhost emulator; stderr:\n%s", e.stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	// stderr is copied from its pipe separately: wait for the banner's
	// last line.
	for !strings.Contains(e.stderr.String(), "workload identity issuer") {
		select {
		case <-deadline:
			t.Fatalf("no banner from credhost emulator:\n%s", e.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return e
}

// httpClient trusts the emulator's CA (SSL_CERT_FILE of its exports).
func (e *runningEmulator) httpClient(t *testing.T) *http.Client {
	t.Helper()
	b, err := os.ReadFile(e.env["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func (e *runningEmulator) exports() []string {
	var out []string
	for k, v := range e.env {
		out = append(out, k+"="+v)
	}
	return out
}

// TestEmulatorCommandOnAzurite: `credhost emulator` started from the
// command line, with no Go code, issues tokens real Azurite (OAuth mode)
// accepts: azidentity configured only from the --print-env exports gets a
// v1.0 storage token and azblob lists containers. A workload token minted
// by `credhost emulator token --federated` works through `credhost token`
// with only AZURE_* variables (AZURE_FEDERATED_TOKEN_FILE), and Azurite
// accepts that token too.
func TestEmulatorCommandOnAzurite(t *testing.T) {
	const subject = "system:serviceaccount:ns:name"
	az := azuritetest.Start(t)
	testbin.Build(t, "./plugins/clientcreds", "credhost-plugin-clientcreds")
	e := startEmulatorCommand(t, "--federated-credential", emulator.DefaultClientID+"="+subject)
	for _, want := range []string{"client id " + emulator.DefaultClientID, "secret " + emulator.DefaultClientSecret,
		"user " + emulator.DefaultUsername + " password " + emulator.DefaultPassword, "sub " + subject} {
		if !strings.Contains(e.stderr.String(), want) {
			t.Errorf("the banner lacks %q:\n%s", want, e.stderr.String())
		}
	}
	if e.env["AZURE_CLIENT_ID"] != emulator.DefaultClientID || e.env["AZURE_TENANT_ID"] != emulator.DefaultTenantID {
		t.Fatalf("exports %v", e.env)
	}
	hc := e.httpClient(t)
	cred, err := azidentity.NewClientSecretCredential(e.env["AZURE_TENANT_ID"], e.env["AZURE_CLIENT_ID"], e.env["AZURE_CLIENT_SECRET"],
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.env["AZURE_AUTHORITY_HOST"] + "/"}, Transport: hc},
			DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	listContainers(t, az, cred, "from-azidentity")

	// Workload identity through the real CLI, AZURE_* variables only.
	r := run(t, e.cli, nil, "emulator", "token", "--federated", "--subject", subject,
		"--url-file", filepath.Join(e.dir, "url"), "--ca-file", filepath.Join(e.dir, "ca.pem"))
	if r.code != 0 {
		t.Fatalf("credhost emulator token: exit %d\n%s", r.code, r.stderr)
	}
	fedFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(fedFile, []byte(strings.TrimSpace(r.stdout)), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, e.cli, []string{"AZURE_TENANT_ID=" + e.env["AZURE_TENANT_ID"], "AZURE_CLIENT_ID=" + e.env["AZURE_CLIENT_ID"],
		"AZURE_FEDERATED_TOKEN_FILE=" + fedFile, "AZURE_AUTHORITY_HOST=" + e.env["AZURE_AUTHORITY_HOST"],
		"SSL_CERT_FILE=" + e.env["SSL_CERT_FILE"], "XDG_CONFIG_HOME=" + t.TempDir()},
		"token", "--scope", "https://storage.azure.com/.default")
	if r.code != 0 {
		t.Fatalf("credhost token with AZURE_FEDERATED_TOKEN_FILE: exit %d\n%s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	var claims map[string]any
	if err := jwtpeek.Claims(tok, &claims); err != nil {
		t.Errorf("federated token: %v", err)
	}
	if claims["appidacr"] != "2" || claims["ver"] != "1.0" || claims["aud"] != "https://storage.azure.com" {
		t.Errorf("federated token claims %v", claims)
	}
	listContainers(t, az, staticCredential(tok), "from-workload")

	// The same CLI refuses an unknown resource as Entra ID does.
	_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://nobody/.default"}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS500011") {
		t.Errorf("unknown resource: %v", err)
	}
}

type cliResult struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, cli string, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(cli, args...)
	cmd.Env = append([]string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return cliResult{out.String(), errb.String(), code}
}

func staticCredential(raw string) azcore.TokenCredential {
	c, _ := azure.NewTokenCredential(core.CredentialFunc(func(context.Context, sdk.TokenRequest) (sdk.Token, error) {
		return sdk.Token{AccessToken: sdk.NewSecret(raw), TokenType: "Bearer", ExpiresOn: time.Now().Add(time.Hour)}, nil
	}), nil)
	return c
}

// listContainers creates a container on Azurite with cred and finds it in
// the listing.
func listContainers(t *testing.T, az *azuritetest.Server, cred azcore.TokenCredential, name string) {
	t.Helper()
	c, err := azblob.NewClient(az.URL, cred, &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: az.HTTPClient, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.CreateContainer(ctx, name, nil); err != nil {
		t.Fatalf("CreateContainer %s: %v", name, err)
	}
	var names []string
	for pager := c.NewListContainersPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListContainers: %v", err)
		}
		for _, it := range page.ContainerItems {
			names = append(names, *it.Name)
		}
	}
	if !slices.Contains(names, name) {
		t.Errorf("containers %v lack %s", names, name)
	}
}

// TestClaimsChallengeThroughCLI: a conditional access policy on the
// resource makes `credhost token` (ropc) fail with the emulator's claims
// challenge; the same command with --claims and that challenge gets a
// stepped-up token; a malformed --claims is refused with AADSTS50117.
func TestClaimsChallengeThroughCLI(t *testing.T) {
	const user, password, scope = "carol@contoso.onmicrosoft.com", "carol-password", "api://resource/access_as_user"
	cli := testbin.Build(t, "./cmd/credhost", "credhost")
	testbin.Build(t, "./plugins/ropc", "credhost-plugin-ropc")
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, emulator.User{Username: user, Password: password, ConditionalAccess: []string{"api://resource"}})
	srv := emulatortest.Start(t, cfg)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "config.toml")
	body := `[profiles.ropc]
authority = "` + srv.Authority(emulator.DefaultTenantID) + `"
client_id = "` + emulator.DefaultPublicClientID + `"
chain = ["ropc"]
ca_file = "` + filepath.Join(dir, "ca.pem") + `"
[profiles.ropc.ropc]
username = "` + user + `"
password = "env:ROPC_PASSWORD"
`
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"ROPC_PASSWORD=" + password, "XDG_CACHE_HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}
	token := func(extra ...string) cliResult {
		return run(t, cli, env, append([]string{"token", "--config", conf, "--profile", "ropc", "--scope", scope}, extra...)...)
	}
	r := token()
	if r.code != 4 || !strings.Contains(r.stderr, "AADSTS50076") { // 4: interaction required
		t.Fatalf("without claims: exit %d\n%s", r.code, r.stderr)
	}
	// The CLI prints the challenge and the command answering it; run
	// the challenge it printed, as a user copying the command would.
	_, next, ok := strings.Cut(r.stderr, "--claims '")
	challenge, _, ok2 := strings.Cut(next, "'\n")
	want := "credhost token --config '" + conf + "' --profile 'ropc' --scope '" + scope + "' --claims '"
	if !ok || !ok2 || !strings.Contains(r.stderr, want) || !strings.Contains(challenge, "capolids") {
		t.Fatalf("no claims challenge command in the CLI's error:\n%s", r.stderr)
	}
	r = token("--claims", challenge)
	if r.code != 0 {
		t.Fatalf("with --claims: exit %d\n%s", r.code, r.stderr)
	}
	c, err := srv.VerifyAccessToken(strings.TrimSpace(r.stdout))
	if err != nil || c["acrs"] == nil || c["preferred_username"] != user {
		t.Errorf("stepped-up token %v, %v", c, err)
	}
	if r := token("--claims", "not-json{"); r.code == 0 || !strings.Contains(r.stderr, "AADSTS50117") {
		t.Errorf("malformed claims: exit %d\n%s", r.code, r.stderr)
	}
}
