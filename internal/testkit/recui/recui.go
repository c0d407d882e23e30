// Package recui is the test double of a flow's UI (core.UI): it records
// every prompt, with the time it was shown, and every progress message,
// and can act on a prompt (approve a device code, drive a browser) the way
// a person would.
package recui

import (
	"context"
	"sync"
	"time"

	"github.com/credhost/credhost/core"
)

// UI records what a flow shows. The zero value is ready; it is safe for
// concurrent use.
type UI struct {
	// OnPrompt, if set, runs after a prompt is recorded, on the flow's
	// goroutine, as the person answering it. Set it before the flow runs.
	OnPrompt func(core.Prompt)

	mu       sync.Mutex
	prompts  []core.Prompt
	at       []time.Time
	progress []string
}

// Prompt records p and runs OnPrompt. It never fails.
func (u *UI) Prompt(_ context.Context, p core.Prompt) error {
	u.mu.Lock()
	u.prompts = append(u.prompts, p)
	u.at = append(u.at, time.Now())
	f := u.OnPrompt
	u.mu.Unlock()
	if f != nil {
		f(p)
	}
	return nil
}

// Progress records msg.
func (u *UI) Progress(_ context.Context, msg string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.progress = append(u.progress, msg)
}

// Count returns how many prompts were shown.
func (u *UI) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.prompts)
}

// Prompts returns the prompts shown so far.
func (u *UI) Prompts() []core.Prompt {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]core.Prompt(nil), u.prompts...)
}

// Last returns the last prompt and when it was shown; ok is false if
// there was none.
func (u *UI) Last() (p core.Prompt, at time.Time, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.prompts) == 0 {
		return core.Prompt{}, time.Time{}, false
	}
	return u.prompts[len(u.prompts)-1], u.at[len(u.at)-1], true
}

// Steps returns the progress messages shown so far.
func (u *UI) Steps() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.progress...)
}

var _ core.UI = (*UI)(nil)
