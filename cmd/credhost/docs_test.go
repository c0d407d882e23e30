package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// shellLines returns the lines of the ```sh and ```bash blocks of a
// Markdown text.
func shellLines(md string) []string {
	var out []string
	in, shell := false, false
	for _, line := range strings.Split(md, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			if !in {
				lang := strings.TrimPrefix(t, "```")
				in, shell = true, lang == "sh" || lang == "bash"
			} else {
				in = false
			}
			continue
		}
		if in && shell {
			out = append(out, t)
		}
	}
	return out
}

// TestDocCommandsParse: every credhost command line in the shell blocks of
// README.md and docs/ names a verb that exists and flags it accepts, as
// the CLI parses them (global flags in any position), so a renamed verb
// or flag fails here, not in front of a reader. Running them is the job of
// the tests of each journey (and of examples/quickstart for the quick
// start, which runs as written).
func TestDocCommandsParse(t *testing.T) {
	docs, _ := filepath.Glob("../../docs/*.md")
	n := 0
	for _, doc := range append([]string{"../../README.md"}, docs...) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range shellLines(string(b)) {
			line, _, _ = strings.Cut(line, " #")
			line, _, _ = strings.Cut(line, " &")
			fields := strings.Fields(line)
			if len(fields) < 2 || (fields[0] != "credhost" && fields[0] != "bin/credhost" && fields[0] != "credhost-cli") {
				continue
			}
			n++
			if err := parseOnly(fields[1:]); err != nil {
				t.Errorf("%s: %q: %v", doc, line, err)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d credhost command lines found: the extraction is broken", n)
	}
}

// parseOnly parses args as runEnv does, without running anything.
func parseOnly(args []string) error {
	var g globals
	pre := pflag.NewFlagSet("credhost", pflag.ContinueOnError)
	pre.SetInterspersed(false)
	pre.SetOutput(io.Discard)
	g.Register(pre)
	pre.BoolP("help", "h", false, "")
	pre.Bool("version", false, "")
	if err := pre.Parse(args); err != nil {
		return err
	}
	rest := pre.Args()
	if len(rest) == 0 {
		return nil
	}
	for _, v := range verbs() {
		if v.name != rest[0] {
			continue
		}
		fs := pflag.NewFlagSet(v.name, pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		g.Register(fs)
		v.new().flags(fs)
		at := len(args) - len(rest)
		return fs.Parse(append(append([]string{}, args[:at]...), args[at+1:]...))
	}
	return errors.New("no such command " + rest[0])
}
