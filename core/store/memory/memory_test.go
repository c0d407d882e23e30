package memory

import (
	"context"
	"testing"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
)

// TestBackend: backend = "memory" opens an in-process store, a new one
// per open: nothing persists from one to the next.
func TestBackend(t *testing.T) {
	b, ok := store.Lookup(Name)
	if !ok {
		t.Fatal("memory is not registered")
	}
	ctx := context.Background()
	first, err := b.Open(ctx, store.Input{}, store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Store.Save(ctx, "k", core.Blob{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := first.Store.Load(ctx, "k"); string(got.Data) != "x" {
		t.Fatalf("load %q", got.Data)
	}
	second, err := b.Open(ctx, store.Input{}, store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := second.Store.Load(ctx, "k"); got.Version != 0 {
		t.Errorf("a second open sees the first's entry: %+v", got)
	}
}
