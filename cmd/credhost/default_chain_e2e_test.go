package main

// End-to-end tests of the profile with no config file (the default chain)
// and of credhost serve: the real binary, real plugin processes, the
// emulator over HTTPS.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/identityendpoint"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

// defaultWorld is a directory holding credhost and only the plugins the
// default chain has in this tree (so a plugin another test built is never
// picked up), an az that records being run, and the emulator.
type defaultWorld struct {
	t       *testing.T
	srv     *emulator.Server
	bin     string // the directory of credhost and its plugins
	cli     string
	home    string
	ca      string
	azRan   string // exists once the fake az ran
	envPath string
}

func newDefaultWorld(t *testing.T) *defaultWorld {
	t.Helper()
	w := &defaultWorld{t: t, srv: emulatortest.Start(t, emulator.DefaultConfig()), bin: t.TempDir(), home: t.TempDir()}
	w.cli = testbin.Copy(t, testbin.Build(t, "./cmd/credhost", "credhost"), w.bin)
	testbin.Copy(t, testbin.Build(t, "./plugins/clientcreds", "credhost-plugin-clientcreds"), w.bin)
	testbin.Copy(t, testbin.Build(t, "./plugins/ropc", "credhost-plugin-ropc"), w.bin)
	// The managed identity and Azure CLI flows join when the tree has them.
	for _, flow := range []string{"managedidentity", "azurecli"} {
		if _, err := os.Stat(filepath.Join("..", "..", "plugins", flow)); err == nil {
			testbin.Copy(t, testbin.Build(t, "./plugins/"+flow, "credhost-plugin-"+flow), w.bin)
		}
	}
	w.ca = filepath.Join(w.home, "emulator-ca.pem")
	if err := os.WriteFile(w.ca, w.srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(w.home, "fakebin")
	if err := os.MkdirAll(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	w.azRan = filepath.Join(w.home, "az-ran")
	if err := os.WriteFile(filepath.Join(fake, "az"), []byte("#!/bin/sh\ntouch '"+w.azRan+"'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.envPath = fake + ":/usr/bin:/bin"
	return w
}

// run runs credhost with no config file and only the given variables
// (and the emulator's CA through SSL_CERT_FILE, as a user would).
func (w *defaultWorld) run(vars []string, args ...string) result {
	w.t.Helper()
	cmd := exec.Command(w.cli, args...)
	base := []string{noAgent, "PATH=" + w.envPath, "HOME=" + w.home, "XDG_CONFIG_HOME=" + filepath.Join(w.home, "xdg"),
		"CREDHOST_LOG_FORMAT=json", "SSL_CERT_FILE=" + w.ca}
	// Managed identity is pointed at a loopback port that refuses
	// connections: nothing may leave the machine. A test that redirects
	// IMDS itself (AZURE_POD_IDENTITY_AUTHORITY_HOST) gets no App Service
	// endpoint, which MSAL would prefer; the test build's IMDS fallback is
	// a refusing loopback port too (internal/testkit/testbin).
	if !hasVar(vars, envPodIdentityHost) {
		base = append(base, identityendpoint.EnvEndpoint+"=http://127.0.0.1:1/msi/token", identityendpoint.EnvHeader+"=x")
	}
	cmd.Env = append(base, vars...)
	cmd.Dir = w.home
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// envPodIdentityHost redirects managedidentity's IMDS requests (as
// aad-pod-identity does); envAssetTagFile replaces the DMI chassis asset
// tag it reads to know it is on an Azure VM.
const (
	envPodIdentityHost = "AZURE_POD_IDENTITY_AUTHORITY_HOST"
	envAssetTagFile    = "CREDHOST_MI_ASSET_TAG_FILE"
)

func hasVar(vars []string, name string) bool {
	for _, v := range vars {
		if strings.HasPrefix(v, name+"=") {
			return true
		}
	}
	return false
}

func (w *defaultWorld) app(extra ...string) []string {
	return append([]string{"AZURE_AUTHORITY_HOST=" + w.srv.URL(), "AZURE_TENANT_ID=" + tenantID, "AZURE_CLIENT_ID=" + clientID}, extra...)
}

// managedIdentityToken runs credhost token with vars and returns the
// claims of the token, which the managedidentity member must have given
// for appid.
func (w *defaultWorld) managedIdentityToken(name, appid string, vars []string) map[string]any {
	w.t.Helper()
	r := w.run(vars, "token", "--scope", scope, "-o", "json")
	if r.code != 0 {
		w.t.Fatalf("%s: exit %d\n%s", name, r.code, r.stderr)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		Flow        string `json:"flow"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		w.t.Fatalf("%s: %v: %s", name, err, r.stdout)
	}
	claims, err := w.srv.VerifyAccessToken(out.AccessToken)
	if err != nil || claims["appid"] != appid || out.Flow != "managedidentity" {
		w.t.Fatalf("%s: flow %q, claims %v, %v", name, out.Flow, claims, err)
	}
	return claims
}

// TestDefaultChainEnvironment: with no config file and only AZURE_*
// variables, EnvironmentCredential's member wins: clientcreds for a
// secret (also when a federated token file is set too, as in azidentity),
// ropc for AZURE_USERNAME and AZURE_PASSWORD.
func TestDefaultChainEnvironment(t *testing.T) {
	w := newDefaultWorld(t)
	fed := filepath.Join(w.home, "federated-token")
	if err := os.WriteFile(fed, []byte("not-a-valid-assertion"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Workload identity: an app that trusts the emulator's federation
	// issuer, and a token file as the AKS webhook mounts it.
	const wiApp = "33333333-3333-4333-8333-333333333333"
	if err := w.srv.AddApp(tenantID, emulator.App{ClientID: wiApp,
		FederatedCredentials: []emulator.FederatedCredential{{Issuer: w.srv.FederationIssuer(), Subject: "system:serviceaccount:default:app"}}}); err != nil {
		t.Fatal(err)
	}
	assertion, err := w.srv.IssueFederatedToken("system:serviceaccount:default:app", emulator.DefaultFederatedAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wiToken := filepath.Join(w.home, "azure-identity-token")
	if err := os.WriteFile(wiToken, []byte(assertion), 0o600); err != nil {
		t.Fatal(err)
	}
	wi := []string{"AZURE_AUTHORITY_HOST=" + w.srv.URL(), "AZURE_TENANT_ID=" + tenantID, "AZURE_CLIENT_ID=" + wiApp, "AZURE_FEDERATED_TOKEN_FILE=" + wiToken}
	user := []string{"AZURE_AUTHORITY_HOST=" + w.srv.URL(), "AZURE_TENANT_ID=" + tenantID, "AZURE_CLIENT_ID=" + emulator.DefaultPublicClientID,
		"AZURE_USERNAME=" + emulator.DefaultUsername, "AZURE_PASSWORD=" + emulator.DefaultPassword}
	tests := []struct {
		name, flow, appid string
		vars              []string
	}{
		{"secret", "clientcreds", clientID, w.app("AZURE_CLIENT_SECRET=" + secret)},
		{"secret and token file", "clientcreds", clientID, w.app("AZURE_CLIENT_SECRET="+secret, "AZURE_FEDERATED_TOKEN_FILE="+fed)},
		{"prod, secret", "clientcreds", clientID, w.app("AZURE_CLIENT_SECRET="+secret, "AZURE_TOKEN_CREDENTIALS=prod")},
		{"only EnvironmentCredential", "clientcreds", clientID, w.app("AZURE_CLIENT_SECRET="+secret, "AZURE_TOKEN_CREDENTIALS=EnvironmentCredential")},
		{"username and password", "ropc", emulator.DefaultPublicClientID, user},
		{"workload identity", "clientcreds", wiApp, wi},
		{"only WorkloadIdentityCredential", "clientcreds", wiApp, append(wi, "AZURE_TOKEN_CREDENTIALS=WorkloadIdentityCredential")},
	}
	for _, tt := range tests {
		r := w.run(tt.vars, "token", "--scope", scope, "-o", "json")
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", tt.name, r.code, r.stderr)
		}
		var out struct {
			AccessToken string `json:"access_token"`
			Flow        string `json:"flow"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("%s: %v: %s", tt.name, err, r.stdout)
		}
		if claims, err := w.srv.VerifyAccessToken(out.AccessToken); err != nil || claims["appid"] != tt.appid || out.Flow != tt.flow {
			t.Fatalf("%s: flow %q, claims %v, %v", tt.name, out.Flow, claims, err)
		}
		assertNoLeak(t, r.stderr, secret, emulator.DefaultPassword, assertion)
	}
	if _, err := os.Stat(w.azRan); err == nil {
		t.Error("az ran although an earlier member gave a token")
	}
}

// TestDefaultChainAttempts: with only AZURE_TENANT_ID and AZURE_CLIENT_ID,
// no member can run; the attempt list says why for each, naming the
// missing variables; AZURE_TOKEN_CREDENTIALS=prod leaves az out entirely.
func TestDefaultChainAttempts(t *testing.T) {
	w := newDefaultWorld(t)
	r := w.run(w.app(), "token", "--scope", scope)
	if r.code == 0 {
		t.Fatalf("a token with no credential:\n%s", r.stdout)
	}
	for _, want := range []string{
		"EnvironmentCredential: skipped: AZURE_TENANT_ID and AZURE_CLIENT_ID are set, but no credential: set AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_USERNAME and AZURE_PASSWORD, or AZURE_FEDERATED_TOKEN_FILE",
		"WorkloadIdentityCredential: skipped: AZURE_FEDERATED_TOKEN_FILE not set",
		"managedidentity",
		"azurecli",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the attempt list lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "no AZURE_TENANT_ID/AZURE_CLIENT_ID") {
		t.Errorf("the error blames the ids:\n%s", r.stderr)
	}
	_ = os.Remove(w.azRan)

	r = w.run(w.app("AZURE_TOKEN_CREDENTIALS=prod"), "token", "--scope", scope)
	if r.code == 0 || strings.Contains(r.stderr, "azurecli") || !strings.Contains(r.stderr, "managedidentity") {
		t.Errorf("prod: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(w.azRan); err == nil {
		t.Error("AZURE_TOKEN_CREDENTIALS=prod ran az")
	}

	r = w.run(w.app("AZURE_TOKEN_CREDENTIALS=everything"), "token", "--scope", scope)
	if r.code != exitUsage || !strings.Contains(r.stderr, `AZURE_TOKEN_CREDENTIALS: invalid value "everything"`) {
		t.Errorf("bad AZURE_TOKEN_CREDENTIALS: exit %d\n%s", r.code, r.stderr)
	}
}

// TestDoctorDefaultChain: doctor with no config file and no profile names
// every member of azidentity's chain and what it would do here.
func TestDoctorDefaultChain(t *testing.T) {
	w := newDefaultWorld(t)
	r := w.run(w.app("AZURE_FEDERATED_TOKEN_FILE=/nonexistent/token"), "doctor", "-o", "json")
	var out doctorJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	var flows []string
	for _, m := range out.Members {
		flows = append(flows, m.Flow)
	}
	if out.Profile != "env" || strings.Join(flows, ",") != "EnvironmentCredential,clientcreds,managedidentity,azurecli" {
		t.Fatalf("doctor: profile %q, members %v", out.Profile, flows)
	}
	if m := out.Members[0]; m.Status != "unavailable" || !strings.Contains(m.Reason, "AZURE_CLIENT_SECRET") {
		t.Errorf("EnvironmentCredential: %+v", m)
	}
}

// TestServeCommand: credhost serve writes IDENTITY_ENDPOINT and
// IDENTITY_HEADER to a 0600 file; azidentity's ManagedIdentityCredential
// with those gets the profile's token; on SIGTERM the file goes away.
func TestServeCommand(t *testing.T) {
	w := newWorld(t)
	cfg := filepath.Join(w.dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(`[profiles.p]
authority = "`+w.srv.Authority(tenantID)+`"
client_id = "`+clientID+`"
chain = ["clientcreds"]
ca_file = "ca.pem"
serve_resources = ["https://graph.microsoft.com/", "https://storage.azure.com"]
[profiles.p.clientcreds]
client_secret = "`+secret+`"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// --resource narrows the profile's list, never widens it.
	if r := w.run(nil, "serve", "--config", cfg, "--resource", "https://vault.azure.net"); r.code != exitUsage || !strings.Contains(r.stderr, `profile "p" serves only`) {
		t.Fatalf("a --resource outside serve_resources: exit %d\n%s", r.code, r.stderr)
	}
	envFile := filepath.Join(w.dir, "identity.env")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.cli, "serve", "--config", cfg, "--env-file", envFile, "--resource", "https://graph.microsoft.com")
	cmd.Env = []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir, "CREDHOST_LOG_FORMAT=json"}
	var errb syncbuf.Buffer // written by exec's copier while the test reads it
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()

	vars := map[string]string{}
	for deadline := time.Now().Add(time.Minute); len(vars) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no env file:\n%s", errb.String())
		}
		f, err := os.Open(envFile)
		if err != nil {
			continue
		}
		st, _ := f.Stat()
		if st.Mode().Perm() != 0o600 {
			t.Errorf("env file mode %v", st.Mode().Perm())
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
			vars[k] = strings.Trim(v, "'")
		}
		f.Close()
	}
	t.Setenv(identityendpoint.EnvEndpoint, vars[identityendpoint.EnvEndpoint])
	t.Setenv(identityendpoint.EnvHeader, vars[identityendpoint.EnvHeader])
	mi, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if claims, err := w.srv.VerifyAccessToken(tok.Token); err != nil || claims["appid"] != clientID {
		t.Fatalf("claims %v, %v", claims, err)
	}
	// A resource outside the profile's list, and one the flag left out,
	// are refused.
	for _, res := range []string{"https://vault.azure.net", "https://storage.azure.com"} {
		if _, err := mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{res + "/.default"}}); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("%s: %v", res, err)
		}
	}
	assertNoLeak(t, errb.String(), secret, vars[identityendpoint.EnvHeader], tok.Token)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("serve exited with %v\n%s", err, errb.String())
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("the env file is still there: %v", err)
	}
}

// TestDefaultChainManagedIdentity: with no AZURE_* credential and the
// emulator's App Service identity endpoint in IDENTITY_ENDPOINT, the
// managedidentity member wins the default chain, system-assigned, or
// user-assigned by AZURE_CLIENT_ID as in azidentity. It runs once the tree
// has plugins/managedidentity.
func TestDefaultChainManagedIdentity(t *testing.T) {
	if _, err := os.Stat(filepath.Join("..", "..", "plugins", "managedidentity")); err != nil {
		t.Skip("plugins/managedidentity is not in this tree")
	}
	w := newDefaultWorld(t)
	mi := []string{identityendpoint.EnvEndpoint + "=" + w.srv.IdentityEndpoint(), identityendpoint.EnvHeader + "=" + emulator.IdentityHeader}
	for _, tt := range []struct {
		name, appid string
		vars        []string
	}{
		{"system-assigned", emulator.SystemAssignedClientID, mi},
		{"user-assigned by AZURE_CLIENT_ID", clientID, append(mi, "AZURE_CLIENT_ID="+clientID)},
		{"prod", emulator.SystemAssignedClientID, append(mi, "AZURE_TOKEN_CREDENTIALS=prod")},
	} {
		w.managedIdentityToken(tt.name, tt.appid, tt.vars)
	}
	if _, err := os.Stat(w.azRan); err == nil {
		t.Error("az ran although managed identity gave a token")
	}
}

// TestDefaultChainIMDS: on an Azure VM (the DMI asset tag says so) with
// no AZURE_* credential, the managedidentity member wins the default chain
// through the emulator's IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST, no
// IDENTITY_ENDPOINT), and doctor says why EnvironmentCredential and
// WorkloadIdentityCredential were skipped. Nothing goes to
// 169.254.169.254: the redirect is the plugin's HTTP client's, and the
// test build's fallback is a refusing loopback port.
func TestDefaultChainIMDS(t *testing.T) {
	if _, err := os.Stat(filepath.Join("..", "..", "plugins", "managedidentity")); err != nil {
		t.Skip("plugins/managedidentity is not in this tree")
	}
	w := newDefaultWorld(t)
	tag := filepath.Join(w.home, "chassis_asset_tag")
	if err := os.WriteFile(tag, []byte("7783-7084-3265-9085-8269-3286-77\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vm := []string{envPodIdentityHost + "=" + strings.TrimSuffix(w.srv.IMDSEndpoint(), emulator.IMDSPath), envAssetTagFile + "=" + tag}
	for _, tt := range []struct {
		name, appid string
		vars        []string
	}{
		{"system-assigned", emulator.SystemAssignedClientID, vm},
		{"user-assigned by AZURE_CLIENT_ID", clientID, append(vm, "AZURE_CLIENT_ID="+clientID)},
		{"prod", emulator.SystemAssignedClientID, append(vm, "AZURE_TOKEN_CREDENTIALS=prod")},
	} {
		claims := w.managedIdentityToken(tt.name, tt.appid, tt.vars)
		// The VM's identity: IMDS, not App Service, gave it.
		if tt.appid == emulator.SystemAssignedClientID && claims["xms_mirid"] != emulator.SystemAssignedResourceID {
			t.Errorf("%s: xms_mirid %v, want the emulator VM's", tt.name, claims["xms_mirid"])
		}
	}
	if _, err := os.Stat(w.azRan); err == nil {
		t.Error("az ran although managed identity gave a token")
	}

	// Why the members before managed identity did not run.
	r := w.run(vm, "doctor", "-o", "json")
	var doc doctorJSON
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("doctor: exit %d: %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	status := map[string]memberJSON{}
	for _, m := range doc.Members {
		status[m.Flow] = m
	}
	for flow, reason := range map[string]string{
		"EnvironmentCredential":      "AZURE_TENANT_ID",
		"WorkloadIdentityCredential": "AZURE_FEDERATED_TOKEN_FILE not set",
	} {
		if m := status[flow]; m.Status != "unavailable" || !strings.Contains(m.Reason, reason) {
			t.Errorf("doctor: %s: %+v, want unavailable naming %s\n%s", flow, m, reason, r.stdout)
		}
	}
	if m := status["managedidentity"]; m.Status != "ready" {
		t.Errorf("doctor: managedidentity: %+v\n%s", m, r.stdout)
	}
}
