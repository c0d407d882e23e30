package recui

import (
	"context"
	"sync"
	"testing"

	"github.com/credhost/credhost/core"
)

// TestRecordsConcurrently: prompts and steps from many goroutines are all
// recorded, OnPrompt sees each prompt, and the copies returned are the
// caller's own.
func TestRecordsConcurrently(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	u := &UI{OnPrompt: func(core.Prompt) { mu.Lock(); seen++; mu.Unlock() }}
	if _, _, ok := u.Last(); ok {
		t.Fatal("Last of an empty UI")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_ = u.Prompt(context.Background(), core.Prompt{UserCode: "C"})
			u.Progress(context.Background(), "step")
		})
	}
	wg.Wait()
	if u.Count() != 8 || len(u.Steps()) != 8 || seen != 8 {
		t.Fatalf("count %d, steps %d, OnPrompt %d; want 8 each", u.Count(), len(u.Steps()), seen)
	}
	u.Prompts()[0].UserCode = "changed"
	if p, at, ok := u.Last(); !ok || p.UserCode != "C" || at.IsZero() {
		t.Fatalf("Last = %+v %v %v", p, at, ok)
	}
}
