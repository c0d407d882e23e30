package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/cmd/credhost/internal/tokenout"
	"github.com/credhost/credhost/core/host"
)

// aksServerScope is the scope of the Azure Kubernetes Service AAD server
// application, the same for every AKS cluster with Entra ID integration.
const aksServerScope = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"

// kubeconfigCmd prints the users: stanza of a kubeconfig whose exec
// credential plugin is credhost, for the profile.
type kubeconfigCmd struct {
	scope   string
	name    string
	command string
	mode    string
	// In-place edits (kubeconfig_write.go).
	writeFile bool
	file      string
	cluster   string
	context   string
}

func (c *kubeconfigCmd) flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.scope, "scope", "s", aksServerScope, "scope of the cluster's API server (default: the AKS Entra ID server app)")
	fs.StringVar(&c.name, "name", "", "kubeconfig user name (default credhost-<profile>)")
	fs.StringVar(&c.command, "command", "", "path kubectl runs (default: this credhost binary)")
	fs.StringVar(&c.mode, "interactive-mode", "IfAvailable", "kubectl interactiveMode: Never, IfAvailable or Always")
	fs.BoolVar(&c.writeFile, "write", false, "merge the user into the kubeconfig file instead of printing it (the old file is kept as <file>.credhost.bak)")
	fs.StringVar(&c.file, "kubeconfig", "", "kubeconfig file for --write and convert (default: the first of $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&c.cluster, "cluster", "", "with --write: also write a context pairing this existing cluster with the user")
	fs.StringVar(&c.context, "context", "", "with --cluster: the context's name (default <cluster>-<profile>)")
}

func (c *kubeconfigCmd) validate(*globals) error {
	switch c.mode {
	case "Never", "IfAvailable", "Always":
		return nil
	}
	return usageError{fmt.Errorf("--interactive-mode %q: use Never, IfAvailable or Always", c.mode)}
}

func (c *kubeconfigCmd) run(_ context.Context, g *globals, e *env, verbArgs []string) error {
	convert := len(verbArgs) == 1 && verbArgs[0] == "convert"
	if len(verbArgs) > 0 && !convert {
		return usageError{fmt.Errorf("kubeconfig takes no argument but convert, got %q", verbArgs[0])}
	}
	if c.cluster != "" && !c.writeFile {
		return usageError{errors.New("--cluster writes a context: use it with --write")}
	}
	file, err := host.LoadConfig(g.Config, e.getenv)
	if err != nil {
		return usageError{err}
	}
	profile, err := host.SelectProfile(file, g.Profile, e.getenv)
	if err != nil {
		return usageError{err}
	}
	if c.command == "" {
		c.command = frontBinary()
	}
	if c.name == "" {
		c.name = "credhost-" + profile
	}
	base := []string{"token", "--profile", profile}
	if g.Config != "" {
		// kubectl runs the command from wherever it was started.
		abs, err := filepath.Abs(g.Config)
		if err != nil {
			return usageError{err}
		}
		base = append(base, "--config", abs)
	}
	if convert {
		return c.convert(e, profile, base)
	}
	args := append(base, "--scope", c.scope, "--output", "exec-credential")
	if c.writeFile {
		return c.write(e, profile, args)
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = strconv.Quote(a)
	}
	_, err = fmt.Fprintf(e.stdout, `users:
- name: %s
  user:
    exec:
      apiVersion: %s
      command: %s
      args: [%s]
      interactiveMode: %s
      provideClusterInfo: false
`, strconv.Quote(c.name), tokenout.ExecCredentialVersion, strconv.Quote(c.command), strings.Join(quoted, ", "), c.mode)
	return err
}

// frontBinary is the command kubectl should run: the credhost binary next
// to this one (the fast front, which answers cache hits without starting
// this full CLI), else this binary.
func frontBinary() string {
	exe, err := os.Executable()
	if err != nil {
		return "credhost"
	}
	if front := filepath.Join(filepath.Dir(exe), "credhost"); front != exe {
		if fi, err := os.Stat(front); err == nil && fi.Mode().IsRegular() {
			return front
		}
	}
	return exe
}
