package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/credhost/credhost/core"
)

// A member call is bounded by the profile's timeout, which is meant for
// work nobody waits on (starting the plugin, talking to the identity
// provider). A person is not held to it: when the flow shows a prompt
// that says until when it waits (core.Prompt.ExpiresOn: a device code's
// expiry, a browser sign-in's own timeout), the call's end moves to that
// time plus the timeout again, for the redemption that follows. So a
// device code lives as long as Entra ID says it does, and a flow that
// never prompts keeps the plain bound.
//
// The returned context carries no Deadline of its own: gRPC would send
// one to the plugin as a fixed timeout that could not move later. The
// plugin learns of the end by cancellation instead, as it does of Ctrl-C.
type callDeadline struct {
	timeout time.Duration

	mu       sync.Mutex
	end      time.Time
	extended bool
	timer    *time.Timer
}

// withCallDeadline returns ctx bounded by timeout (movable with extend)
// and a function that releases it.
func withCallDeadline(parent context.Context, timeout time.Duration) (context.Context, *callDeadline, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	d := &callDeadline{timeout: timeout, end: time.Now().Add(timeout)}
	d.timer = time.AfterFunc(timeout, func() { cancel(context.DeadlineExceeded) })
	return ctx, d, func() {
		d.timer.Stop()
		cancel(context.Canceled)
	}
}

// extend moves the end to until plus the timeout, if that is later.
func (d *callDeadline) extend(until time.Time) {
	end := until.Add(d.timeout)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !end.After(d.end) {
		return
	}
	// Stop fails once the timer has fired: the call is over, keep it so.
	if d.timer.Stop() {
		d.end = end
		d.extended = true
		d.timer.Reset(time.Until(end))
	}
}

// exceeded reports whether the call ended because its time ran out.
func (d *callDeadline) exceeded(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), context.DeadlineExceeded)
}

// error replaces the cancellation a plugin reports with what happened:
// the time ran out, and which bound it was.
func (d *callDeadline) error(flow string) error {
	d.mu.Lock()
	extended := d.extended
	d.mu.Unlock()
	hint := "raise the profile's timeout if the flow needs longer"
	what := fmt.Sprintf("no answer within the profile's timeout (%s)", d.timeout)
	if extended {
		what = "the sign-in was not finished while its prompt was valid"
		hint = "run credhost login again and finish signing in before the code or the browser wait expires"
	}
	return &core.Error{Kind: core.KindFailed, Flow: flow, Err: fmt.Errorf("%s: %w", what, context.DeadlineExceeded), Hint: hint}
}

// stretchUI passes prompts on and extends the call's deadline to the
// time each one stays valid.
type stretchUI struct {
	core.UI
	d *callDeadline
}

func (u stretchUI) Prompt(ctx context.Context, p core.Prompt) error {
	if !p.ExpiresOn.IsZero() {
		u.d.extend(p.ExpiresOn)
	}
	return u.UI.Prompt(ctx, p)
}
