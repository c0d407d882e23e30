package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/cmd/credhost/internal/cliflags"
	"github.com/credhost/credhost/core"
)

// canPrompt is the one rule for whether credhost may show a sign-in
// prompt (README: "Prompts"): never with --no-prompt; never when the
// program that started it says nobody is there (kubectl's
// KUBERNETES_EXEC_INFO interactive:false, git's GIT_TERMINAL_PROMPT=0);
// and, for a helper another program starts in the background (git runs
// git-credential from IDEs and CI jobs too), only when stderr, where the
// prompt goes, is a terminal. Otherwise flows that need a person are
// Unavailable at once and the error says to run credhost login.
func canPrompt(e *env, noPrompt, helper bool) bool {
	if cliflags.Unattended(noPrompt, e.getenv) {
		return false
	}
	if helper {
		f, ok := e.stderr.(*os.File)
		return ok && isatty.IsTerminal(f.Fd())
	}
	return true
}

// stderrUI shows prompts on stderr, where a person at a terminal (or the
// log of a CI job) sees them; stdout stays clean for the token. On a
// terminal a prompt that expires gets a live countdown line, rewritten in
// place every second until the flow ends; elsewhere it is one plain line,
// so logs do not fill with carriage returns.
type stderrUI struct {
	w    io.Writer
	tty  bool
	log  zerolog.Logger
	tick time.Duration

	mu   sync.Mutex
	stop chan struct{} // closes the running countdown; nil if none
	wg   sync.WaitGroup
}

func newStderrUI(w io.Writer, log zerolog.Logger) *stderrUI {
	f, ok := w.(*os.File)
	return &stderrUI{w: w, log: log, tty: ok && isatty.IsTerminal(f.Fd()), tick: time.Second}
}

// Prompt implements core.UI.
func (u *stderrUI) Prompt(_ context.Context, p core.Prompt) error {
	msg := p.Message
	if msg == "" {
		msg = fmt.Sprintf("To sign in, open %s and enter the code %s", p.VerificationURI, p.UserCode)
	}
	// A countdown is for a code; a browser sign-in just says how long it
	// waits.
	if p.ExpiresOn.IsZero() || !u.tty || p.UserCode == "" {
		switch {
		case p.ExpiresOn.IsZero():
		case p.UserCode == "":
			msg += fmt.Sprintf(" (waiting until %s)", p.ExpiresOn.Local().Format(time.Kitchen))
		default:
			msg += fmt.Sprintf(" (expires at %s)", p.ExpiresOn.Local().Format(time.Kitchen))
		}
		_, err := fmt.Fprintln(u.w, msg)
		return err
	}
	if _, err := fmt.Fprintln(u.w, msg); err != nil {
		return err
	}
	u.countdown(p.ExpiresOn)
	return nil
}

// countdown rewrites "code expires in m:ss" until done or expiry.
func (u *stderrUI) countdown(expires time.Time) {
	u.done()
	u.mu.Lock()
	defer u.mu.Unlock()
	stop := make(chan struct{})
	u.stop = stop
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		t := time.NewTicker(u.tick)
		defer t.Stop()
		for {
			left := time.Until(expires).Round(time.Second)
			if left <= 0 {
				fmt.Fprint(u.w, "\r\033[K  the code has expired\n")
				return
			}
			fmt.Fprintf(u.w, "\r\033[K  waiting for you to sign in; the code expires in %d:%02d", int(left.Minutes()), int(left.Seconds())%60)
			select {
			case <-stop:
				fmt.Fprint(u.w, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
}

// done ends a running countdown and waits until its line is cleared.
func (u *stderrUI) done() {
	u.mu.Lock()
	if u.stop != nil {
		close(u.stop)
		u.stop = nil
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// Progress implements core.UI: progress goes to the debug log.
func (u *stderrUI) Progress(_ context.Context, message string) {
	u.log.Debug().Msg(message)
}

var _ core.UI = (*stderrUI)(nil)
