package main

// A cache hit as a whole new process, against the floor any Go CLI pays:
//
//	go test -run '^$' -bench 'Process' -benchtime 200x ./cmd/credhost/
//
// BenchmarkTokenCacheHitProcess runs `credhost token` (the fast front,
// as installed) for a token already in the encrypted cache file: process
// start, config parse, key file, index decryption, one record, print. No
// plugin starts (TestCacheHitStartsNoPlugin) and the full CLI does not
// run (TestFastFront). BenchmarkHelloWorldProcess runs
// a Go binary that prints one line.

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func BenchmarkTokenCacheHitProcess(b *testing.B) {
	w := newWorld(b)
	w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	w.token([]string{"CI_SECRET=" + secret})
	front := w.fastFront()
	args := []string{"token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope}
	env := []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir}
	n := w.srv.Count("token")
	b.ResetTimer()
	for range b.N {
		cmd := exec.Command(front, args...)
		cmd.Env = env
		if out, err := cmd.Output(); err != nil || len(out) == 0 {
			b.Fatalf("credhost token: %v", err)
		}
	}
	b.StopTimer()
	if w.srv.Count("token") != n {
		b.Fatal("a cache hit reached the IdP")
	}
}

func BenchmarkHelloWorldProcess(b *testing.B) {
	bin := helloBinary(b)
	b.ResetTimer()
	for range b.N {
		if out, err := exec.Command(bin).Output(); err != nil || len(out) == 0 {
			b.Fatalf("hello: %v", err)
		}
	}
}

// helloBinary builds a Go program that prints "hello", the way testbin
// builds credhost, so both binaries compare.
func helloBinary(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	src := filepath.Join(dir, "hello.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
