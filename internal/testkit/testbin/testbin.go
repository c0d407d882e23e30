// Package testbin builds the project's binaries for tests that run them as
// real processes (the CLI, plugins), once per test binary.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
)

// noIMDS is the linker flag that points a test build's IMDS fallback
// (plugins/managedidentity) at loopback.
const noIMDS = "-X main.imdsFallback=http://127.0.0.1:1/metadata/identity/oauth2/token"

// Build compiles the package at pkg (a path relative to the module root,
// e.g. "./plugins/clientcreds") into a shared temporary directory under the
// name out, and returns the binary's path. Repeated calls reuse the build.
func Build(t testing.TB, pkg, out string) string {
	t.Helper()
	return BuildLDFlags(t, pkg, out, "")
}

// BuildLDFlags is Build with -ldflags, e.g. to set a variable with -X and
// so build a plugin of another protocol generation. Each distinct out
// names one build.
func BuildLDFlags(t testing.TB, pkg, out, ldflags string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg+"|"+out]; ok {
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "credhost-testbin-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	path := filepath.Join(dir, out)
	// Every test build of a managed identity flow sends IMDS requests to
	// a loopback port that refuses connections unless the test names an
	// endpoint: nothing a test starts may probe 169.254.169.254 (-X of a
	// variable a package lacks is ignored).
	ldflags = strings.TrimSpace(ldflags + " " + noIMDS)
	args := []string{"build", "-o", path, "-ldflags", ldflags}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = moduleRoot(t)
	// As the Makefile builds them: static, so that process start-up (which
	// the benchmarks measure) does not include the dynamic loader.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg+"|"+out] = path
	return path
}

// Dir returns the directory Build writes to (created on first Build).
func Dir() string {
	mu.Lock()
	defer mu.Unlock()
	return dir
}

// Copy copies the binary at src into dstDir and returns the new path.
func Copy(t testing.TB, src, dstDir string) string {
	t.Helper()
	return CopyAs(t, src, dstDir, filepath.Base(src))
}

// CopyAs is Copy under another name: a test that installs credhost-cli
// and the fast front (built as credhost and credhost-fast) side by side
// names each copy at once, so no copy can overwrite another's new name.
func CopyAs(t testing.TB, src, dstDir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dstDir, name)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			t.Fatal(err)
		}
		root = filepath.Dir(strings.TrimSpace(string(out)))
	}
	return root
}
