package readme_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	xoauth2 "golang.org/x/oauth2"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/host"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/examples/readme"
	"github.com/credhost/credhost/internal/testkit/azuritetest"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

const root = "../.."

// fence finds fenced code blocks with their language and indentation.
var fence = regexp.MustCompile("(?ms)^([ \t]*)```(\\w*)\n(.*?)^[ \t]*```[ \t]*$")

// goBlocks returns the ```go blocks of a Markdown file, dedented.
func goBlocks(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range fence.FindAllStringSubmatch(string(b), -1) {
		if m[2] != "go" {
			continue
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(m[3], "\n"), "\n") {
			lines = append(lines, strings.TrimPrefix(l, m[1]))
		}
		out = append(out, strings.Join(lines, "\n"))
	}
	return out
}

// TestGoSnippetsAreCompiled: every ```go block of README.md and docs/*.md
// is, line for line, part of a Go file of the repository that the build
// compiles (this package for the README's own snippets), so a snippet
// that no longer compiles, or an API it shows that changed, fails here.
func TestGoSnippetsAreCompiled(t *testing.T) {
	var sources []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sources = append(sources, normalize(string(b)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	n := 0
	for _, doc := range append([]string{filepath.Join(root, "README.md")}, docs...) {
		for _, block := range goBlocks(t, doc) {
			n++
			want := normalize(block)
			found := false
			for _, s := range sources {
				if strings.Contains(s, want) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: this Go snippet is in no Go file of the repository (put it in examples/readme, compiled, and show it verbatim):\n%s", doc, block)
			}
		}
	}
	if n < 4 {
		t.Fatalf("found only %d Go snippets: the extraction is broken", n)
	}
}

// normalize makes lines comparable: a line's leading tabs are removed, so
// that a snippet may come from inside a function body, and whole-line
// comments are dropped, so that a snippet may leave out doc comments.
func normalize(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(strings.TrimLeft(l, "\t"), " ")
		if !strings.HasPrefix(l, "//") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestREADMESnippetsRun runs the README's sdk snippets against the
// emulator, with the plugins found through $CREDHOST_PLUGIN_DIR as the
// README says: the azblob client creates and lists containers on Azurite
// (OAuth on: it checks the token's issuer, audience and lifetime), and the
// oauth2 client calls a server that checks the token. Without node and npm
// (which Azurite needs) the test skips; with CI=true it fails instead.
func TestREADMESnippetsRun(t *testing.T) {
	// Azurite first: the README's client is built with nil options, so it
	// trusts Azurite's certificate only through SSL_CERT_FILE, which Go
	// reads once per process, on the first use of the system roots; nothing
	// in this test binary has used them yet.
	az := azuritetest.Start(t)
	dir := t.TempDir()
	azuriteCA := filepath.Join(dir, "azurite-ca.pem")
	if err := os.WriteFile(azuriteCA, az.CACertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", azuriteCA)
	t.Setenv("SSL_CERT_DIR", "")

	// Built before PATH is narrowed below; `make install` installs them
	// under the names `make build` gives them.
	built := map[string]string{
		testbin.Build(t, "./cmd/credhost", "credhost"):                           "credhost-cli",
		testbin.Build(t, "./cmd/credhost/fast", "credhost-fast"):                 "credhost",
		testbin.Build(t, "./plugins/clientcreds", "credhost-plugin-clientcreds"): host.BinaryName("clientcreds"),
	}
	// The default config issues v1.0 tokens for https://storage.azure.com
	// (issuer sts.windows.net/<tenant>/), the only kind Azurite accepts.
	srv := emulatortest.Start(t, emulator.DefaultConfig())
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	tenant := emulator.DefaultConfig().Tenants[0].ID
	cfg := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf("[profiles.ci]\nauthority = %q\nclient_id = %q\nchain = [\"clientcreds\"]\nca_file = %q\n[profiles.ci.clientcreds]\nclient_secret = \"env:CI_SECRET\"\n[cache]\nbackend = \"memory\"\n",
		srv.Authority(tenant), emulator.DefaultClientID, ca)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDHOST_CONFIG", cfg)
	t.Setenv("CREDHOST_PLUGIN_DIR", testbin.Dir())
	t.Setenv("CI_SECRET", emulator.DefaultClientSecret)
	t.Setenv("PATH", "/usr/bin:/bin")
	api := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		claims, err := srv.VerifyAccessToken(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil || claims["aud"] != "api://my-api" {
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = rw.Write([]byte("hello"))
	}))
	defer api.Close()

	t.Run("CREDHOST_PLUGIN_DIR", func(t *testing.T) {
		runSnippets(t, srv, az, api, "credhost-readme-plugin-dir")
	})
	t.Run("make install", func(t *testing.T) {
		installed(t, built, cfg)
		runSnippets(t, srv, az, api, "credhost-readme-make-install")
	})
}

// installed runs `make install-bin` of the binaries the test built (path:
// installed name) into a temporary PREFIX, pinning the plugins in cfg, and leaves only PATH
// (PREFIX/bin first) to lead the sdk to them, as after `make install`.
func installed(t *testing.T, built map[string]string, cfg string) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is not installed (CI must have it)")
		}
		t.Skip("make is not installed")
	}
	tmp := t.TempDir()
	prefix, build := filepath.Join(tmp, "prefix"), filepath.Join(tmp, "build")
	if err := os.Mkdir(build, 0o755); err != nil {
		t.Fatal(err)
	}
	for src, name := range built {
		testbin.CopyAs(t, src, build, name)
	}
	cmd := exec.Command("make", "install-bin", "PREFIX="+prefix, "BIN="+build, "PLUGINS=clientcreds", "PIN_CONFIG="+cfg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	if pinned, err := os.ReadFile(cfg); err != nil || !strings.Contains(string(pinned), "[plugins.pins]") {
		t.Fatalf("make install pinned nothing in %s (err %v)", cfg, err)
	}
	t.Setenv(config.EnvPluginDir, "")
	os.Unsetenv(config.EnvPluginDir) // t.Setenv restores it
	t.Setenv("PATH", filepath.Join(prefix, "bin")+":/usr/bin:/bin")
	// The README's commands run in-process: an agent started on demand
	// would outlive the test.
	t.Setenv("CREDHOST_AGENT", "off")
}

// runSnippets runs the README's snippets: Embedding's token is the
// emulator's, the azblob client creates a container on Azurite and lists
// it, and the oauth2 client gets through api, which checks the token.
func runSnippets(t *testing.T, srv *emulator.Server, az *azuritetest.Server, api *httptest.Server, container string) {
	ctx := context.Background()

	tok, err := readme.Embedding(ctx)
	if err != nil {
		t.Fatalf("README Embedding: %v", err)
	}
	if _, err := srv.VerifyAccessToken(tok.AccessToken.Reveal()); err != nil {
		t.Fatal(err)
	}

	// The API server trusts its own test CA: the base client of
	// xoauth2.NewClient is taken from the context, as x/oauth2 documents.
	ctx = context.WithValue(ctx, xoauth2.HTTPClient, api.Client())
	blob, httpClient := readme.AzureAndOAuth2(ctx, az.URL)
	if blob == nil || httpClient == nil {
		t.Fatal("the README's Azure SDK snippet built no client")
	}
	// azblob asks the profile "ci" for https://storage.azure.com/.default.
	if _, err := blob.CreateContainer(ctx, container, nil); err != nil {
		t.Fatalf("the README's azblob client: CreateContainer on Azurite: %v", err)
	}
	var names []string
	pager := blob.NewListContainersPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("the README's azblob client: ListContainers on Azurite: %v", err)
		}
		for _, c := range page.ContainerItems {
			names = append(names, *c.Name)
		}
	}
	if !slices.Contains(names, container) {
		t.Fatalf("Azurite lists containers %q, without %q", names, container)
	}
	resp, err := httpClient.Get(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the oauth2 client of the README got %s", resp.Status)
	}
}
