package main

// helloBinary is the floor any Go CLI pays, for the process benchmarks
// of bench_compare_test.go (BenchmarkHelloProcess).

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

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
