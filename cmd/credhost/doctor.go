package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/mattn/go-isatty"
	"github.com/spf13/pflag"

	"github.com/credhost/credhost/cmd/credhost/internal/cliflags"
	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/host"
)

// doctorCmd says, for each member of a profile's chain, whether it can
// run here and why not, and how the cache is. Without --probe it makes no
// network call: plugins start to describe, configure and check
// themselves, which is local.
type doctorCmd struct {
	probe  bool
	scope  string
	output string
}

func (c *doctorCmd) flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.probe, "probe", false, "also ask each member that can run for a token (network; may prompt)")
	fs.StringVarP(&c.scope, "scope", "s", defaultLoginScope, "scope for --probe")
	fs.StringVarP(&c.output, "output", "o", "", "output: table or json (default: table on a terminal, else json)")
}

func (c *doctorCmd) validate(*globals) error {
	if c.output == "" {
		return nil
	}
	return validateListOutput(c.output)
}

// doctorJSON is `doctor --output json`.
type doctorJSON struct {
	Profile string         `json:"profile"`
	Members []memberJSON   `json:"chain"`
	Cache   doctorCacheRow `json:"cache"`
}

type memberJSON struct {
	Flow        string `json:"flow"`
	Path        string `json:"path,omitempty"`
	Version     string `json:"version,omitempty"`
	Interactive bool   `json:"interactive"`
	Protocol    int    `json:"protocol,omitempty"`
	Pin         string `json:"pin"`
	// Status is "ready", "unavailable", "failed" or "unknown" (set up,
	// but the flow cannot tell without trying: use --probe).
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Hint   string `json:"hint,omitempty"`
	Probe  string `json:"probe,omitempty"`
}

type doctorCacheRow struct {
	Backend  string `json:"backend"`
	Location string `json:"location,omitempty"`
	Tokens   int    `json:"cached_tokens"`
	Problem  string `json:"problem,omitempty"`
}

func (c *doctorCmd) run(ctx context.Context, g *globals, e *env, _ []string) error {
	s, err := openSession(ctx, g, e, !cliflags.KubectlNonInteractive(e.getenv))
	if err != nil {
		return err
	}
	defer s.Close()
	statuses, err := s.Host.Doctor(ctx, s.Profile, c.probe, []string{c.scope})
	if err != nil {
		return usageError{err}
	}
	out := doctorJSON{Profile: s.Profile, Cache: doctorCacheRow{Backend: s.Store.Backend, Location: s.Store.Location}}
	if toks, err := s.Host.Tokens(ctx, s.Profile); err != nil {
		out.Cache.Problem = err.Error()
	} else {
		out.Cache.Tokens = len(toks)
	}
	for _, st := range statuses {
		out.Members = append(out.Members, memberRow(st))
	}
	format := c.output
	if format == "" {
		format = "json"
		if f, ok := e.stdout.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "table"
		}
	}
	if format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
		return out.verdict()
	}
	fmt.Fprintf(e.stdout, "profile %s\n\n", out.Profile)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tFLOW\tVERSION\tPIN\tSTATUS\tWHY / WHAT TO DO")
	for i, m := range out.Members {
		why := m.Reason
		if m.Hint != "" {
			why += " — " + m.Hint
		}
		if m.Probe != "" {
			why += " [probe: " + m.Probe + "]"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, m.Flow, dash(m.Version), m.Pin, m.Status, why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range out.Members {
		if m.Path != "" {
			fmt.Fprintf(e.stdout, "  %s: %s\n", m.Flow, m.Path)
		}
	}
	fmt.Fprintf(e.stdout, "\ncache: %s at %s, %d token(s) for this profile\n", out.Cache.Backend, out.Cache.Location, out.Cache.Tokens)
	if out.Cache.Problem != "" {
		fmt.Fprintf(e.stdout, "cache problem: %s\n", out.Cache.Problem)
	}
	return out.verdict()
}

// verdict makes doctor a gate for scripts: exit 3 (unavailable) when no
// member of the chain can run here, 0 when one is ready or may be.
func (d doctorJSON) verdict() error {
	for _, m := range d.Members {
		if m.Status == "ready" || m.Status == "unknown" {
			return nil
		}
	}
	return &core.Error{Kind: core.KindUnavailable, Err: fmt.Errorf("no member of profile %s's chain can run here", d.Profile),
		Hint: "see the table above: install or configure a flow, or sign in with credhost login"}
}

func memberRow(st host.MemberStatus) memberJSON {
	m := memberJSON{Flow: st.Flow, Path: st.Path, Version: st.Version, Interactive: st.Interactive, Protocol: st.Protocol, Pin: st.Pin}
	switch {
	case st.Problem != nil:
		m.Status = core.KindOf(st.Problem).String()
		m.Reason, m.Hint = reasonHint(st.Problem)
	case st.Checked:
		m.Status = "ready"
	case st.Protocol == 1:
		m.Status = "unknown"
		m.Reason = "the plugin speaks protocol 1, which has no Check"
		m.Hint = "run with --probe, or install a newer build of the plugin"
	default:
		m.Status = "unknown"
		m.Reason = "set up; the flow cannot tell whether it will work without trying"
		m.Hint = "run with --probe"
	}
	if st.Probed {
		m.Probe = "token in " + st.ProbeDur.Round(1e6).String()
		if st.Probe != nil {
			m.Probe = core.KindOf(st.Probe).String() + ": " + st.Probe.Error()
		}
	}
	return m
}

// reasonHint splits a classified error into its message and hint.
func reasonHint(err error) (string, string) {
	var e *core.Error
	if !errors.As(err, &e) || e.Err == nil {
		return err.Error(), ""
	}
	return e.Err.Error(), e.Hint
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
