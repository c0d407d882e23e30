package host

import (
	"context"
	"errors"
	"time"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/plugin"
)

// Pin states of a chain member's plugin.
const (
	PinNone     = "unpinned"
	PinOK       = "pinned"
	PinMismatch = "MISMATCH"
)

// MemberStatus is what `credhost doctor` reports about one chain member.
type MemberStatus struct {
	Flow string
	// Path is the plugin binary ("" when none is installed).
	Path string
	// Version and Interactive come from the plugin's Describe; Protocol
	// is the plugin protocol version negotiated with it.
	Version     string
	Interactive bool
	Protocol    int
	// Pin is PinNone, PinOK or PinMismatch.
	Pin string
	// Checked is true when the flow checked itself (core.Checker); when
	// false and Problem is nil, the flow is set up but whether it can run
	// here is known only by trying (--probe).
	Checked bool
	// Problem says why the member cannot run here: not installed, a pin
	// mismatch, settings, or the flow's own check. nil means it can.
	Problem error
	// Probe is the outcome of a real token request, with --probe: nil
	// means a token came back.
	Probe    error
	Probed   bool
	ProbeDur time.Duration
}

// Doctor reports on each member of profile's chain, in order. It starts
// each plugin to describe, configure and check it, which involves no
// network call; with probe it also asks each member that can run for a
// token for scopes (a real sign-in, silent where the flow can be). ui nil
// means nobody could see a prompt.
func (h *Host) Doctor(ctx context.Context, profile string, probe bool, scopes []string) ([]MemberStatus, error) {
	p, err := h.file.Profile(profile)
	if err != nil {
		return nil, err
	}
	entries := chainEntries(p)
	out := make([]MemberStatus, len(entries))
	for i, e := range entries {
		st := &out[i]
		if e.Skipped != "" {
			// A default chain credential whose variables are not set.
			st.Flow, st.Pin, st.Checked = e.Name(), PinNone, true
			st.Problem = &core.Error{Kind: core.KindUnavailable, Flow: e.Name(), Err: errors.New(e.Skipped),
				Hint: "set the variables to use it, or leave it out with " + config.EnvTokenCredentials + " (prod, dev, or one credential name)"}
			continue
		}
		flow := e.Flow
		m := h.member(p, flow)
		st.Flow, st.Pin = flow, PinNone
		pin, pinned := h.file.Plugins.Pins[flow]
		if pinned {
			st.Pin = PinOK
		}
		if path, err := Find(flow, h.pluginDirs()); err == nil {
			st.Path = path
			if pinned {
				if sum, err := plugin.Checksum(path); err != nil || sum != pin.Raw {
					st.Pin = PinMismatch
				}
			}
		}
		st.Checked, st.Problem = m.check(ctx)
		m.mu.Lock()
		st.Version, st.Interactive = m.desc.Version, m.desc.Interactive
		if m.process != nil {
			st.Protocol = m.process.Protocol()
		}
		m.mu.Unlock()
		if probe && st.Problem == nil {
			began := time.Now()
			_, st.Probe = m.GetToken(ctx, core.TokenRequest{Scopes: scopes})
			st.Probed, st.ProbeDur = true, time.Since(began)
		}
	}
	return out, nil
}

// check starts the member's plugin (describe and configure) and runs the
// flow's own check.
func (m *member) check(ctx context.Context) (checked bool, problem error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	proc, err := m.proc(ctx)
	if err != nil {
		return false, err
	}
	client, err := proc.Client(ctx)
	if err != nil {
		return false, m.setupError(err)
	}
	checked, problem, err = client.Check(ctx, m.host.opts.UI == nil)
	if err != nil {
		return false, err
	}
	return checked, problem
}
