package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/host"
	"github.com/credhost/credhost/internal/agent"
)

// openedHost is a host the agent keeps for one caller setting: a config
// (every layer's bytes), an environment and whether prompts may show.
type openedHost struct {
	key string
	*host.Session
	used time.Time
}

func (o *openedHost) close() { _ = o.Session.Close() }

// openHost opens a host over the caller's config (loaded with the
// caller's environment) as the CLI does in-process: host.Open, for every
// profile of the file (the request names one per call).
func openHost(ctx context.Context, file *config.File, req *agent.TokenRequest, getenv func(string) string, ui core.UI, log zerolog.Logger) (*openedHost, error) {
	var dirs []string
	if req.PluginDir != "" {
		dirs = []string{req.PluginDir}
	}
	s, err := host.Open(ctx, &host.OpenOptions{Config: file, AnyProfile: true, Getenv: getenv, PluginDirs: dirs, UI: ui, Log: log})
	if err != nil {
		return nil, err
	}
	return &openedHost{Session: s}, nil
}

// usageError marks the caller's config or flags as the problem.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// hostKey names what makes two callers' hosts interchangeable: the
// config files' bytes, the environment (less what never matters to a
// token), the plugin directory and whether a person can see prompts.
func hostKey(req *agent.TokenRequest, file *config.File) string {
	h := sha256.New()
	w := func(s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	// Not the working directory: only the project file it finds matters,
	// and that is among the layers (kubectl runs from anywhere).
	w(req.ConfigPath)
	w(req.PluginDir)
	w(fmt.Sprint(req.NoProject, req.CanPrompt))
	// The files LoadLayers read, content and all: an edited config is a
	// new host.
	for _, l := range file.Layers {
		if l.Missing {
			continue
		}
		w(l.Path)
		if l.Kind == config.LayerSystem || l.Kind == config.LayerUser || l.Kind == config.LayerProject {
			b, _ := os.ReadFile(l.Path)
			w(string(b))
		}
	}
	env := slices.Clone(req.Env)
	env = slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return volatile(k)
	})
	slices.Sort(env)
	for _, kv := range env {
		w(kv)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// loadConfig loads the caller's config as the CLI does, with the caller's
// working directory and environment.
func loadConfig(req *agent.TokenRequest, getenv func(string) string) (*config.File, error) {
	file, err := config.LoadLayers(&config.LoadOptions{UserPath: req.ConfigPath, WorkDir: req.WorkDir,
		NoProject: req.NoProject, Getenv: config.Env(getenv)})
	if err != nil {
		return nil, usageError{err}
	}
	return file, nil
}

// volatile lists variables that differ between shells and tools but never
// change a token: they stay out of the host key.
func volatile(k string) bool {
	switch k {
	case "PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES", "TERM", "KUBERNETES_EXEC_INFO",
		"CREDHOST_LOG_LEVEL", "CREDHOST_LOG_FORMAT", "CREDHOST_PROFILE", agent.EnvAgent, agent.EnvIdleTimeout, agent.EnvDir:
		return true
	}
	return strings.HasPrefix(k, "GIT_") || strings.HasPrefix(k, "TERM_")
}

// mustMatch lists the variables the agent's plugins read from the agent's
// own environment (TLS roots, proxies, Kerberos, the home directory), and
// AZURE_*: a caller whose values differ gets FAILED_PRECONDITION and runs
// in-process, so the agent never answers with another environment's
// token.
func mustMatch(k string) bool {
	switch k {
	case "HOME", "USER", "LOGNAME", "TMPDIR", "PATH",
		"SSL_CERT_FILE", "SSL_CERT_DIR",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
		"DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "XDG_RUNTIME_DIR":
		return true
	}
	return strings.HasPrefix(k, "KRB5") || strings.HasPrefix(k, "AZURE_")
}

// envDiff names the first variable that must match and does not (both
// ways: set on one side only counts); "" if none.
func envDiff(caller []string, own []string) string {
	pick := func(env []string) map[string]string {
		m := map[string]string{}
		for _, kv := range env {
			if k, v, ok := strings.Cut(kv, "="); ok && mustMatch(k) {
				m[k] = v
			}
		}
		return m
	}
	c, o := pick(caller), pick(own)
	var diff []string
	for k, v := range c {
		if ov, ok := o[k]; !ok || ov != v {
			diff = append(diff, k)
		}
	}
	for k := range o {
		if _, ok := c[k]; !ok {
			diff = append(diff, k)
		}
	}
	slices.Sort(diff)
	return strings.Join(diff, ", ")
}

// envFunc is a getenv over env (NAME=value).
func envFunc(env []string) func(string) string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}
