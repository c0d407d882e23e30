package memstore

import (
	"os"
	"strings"
	"testing"
)

// TestDocMatchesCode: docs/writing-a-store.md shows this package's code
// as it is, byte for byte.
func TestDocMatchesCode(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/writing-a-store.md")
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile("memstore.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range strings.Split(string(doc), "```go\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		if strings.HasPrefix(block, "// Package memstore") {
			if block != string(code) {
				t.Fatalf("the block in docs/writing-a-store.md is not memstore.go: copy the file into it\n--- doc\n%s--- memstore.go\n%s", block, code)
			}
			return
		}
	}
	t.Fatal("docs/writing-a-store.md has no go block starting with // Package memstore")
}
