package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		58*time.Minute + 10*time.Second: "58m10s",
		58 * time.Minute:                "58m",
		time.Hour:                       "1h",
		time.Hour + 5*time.Minute:       "1h5m",
		time.Hour + 5*time.Second:       "1h0m5s",
		40 * time.Second:                "40s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestHelpAligned: every command's summary starts in the same column,
// the longest name (git-credential) included.
func TestHelpAligned(t *testing.T) {
	var out bytes.Buffer
	e := &env{getenv: func(string) string { return "" }, stdout: &out, stderr: &out}
	if code := runEnv(context.Background(), e, []string{"--help"}); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	col := -1
	in := false
	for _, line := range strings.Split(out.String(), "\n") {
		switch {
		case line == "Commands:":
			in = true
			continue
		case in && line == "":
			in = false
		}
		if !in {
			continue
		}
		name := strings.Fields(line)[0]
		summary := strings.Index(line[len("  ")+len(name):], strings.Fields(line)[1]) + len("  ") + len(name)
		if col == -1 {
			col = summary
		} else if summary != col {
			t.Fatalf("summary of %s starts at column %d, others at %d:\n%s", name, summary, col, out.String())
		}
	}
	if col == -1 {
		t.Fatalf("no commands listed:\n%s", out.String())
	}
}

func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"--log-level", "warn", "--version"}, {"version"}} {
		var out, errb bytes.Buffer
		e := &env{getenv: func(string) string { return "" }, stdout: &out, stderr: &errb}
		if code := runEnv(context.Background(), e, args); code != exitOK || !strings.HasPrefix(out.String(), "credhost ") {
			t.Fatalf("%v: exit %d, %q\n%s", args, code, out.String(), errb.String())
		}
	}
}
