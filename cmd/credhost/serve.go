package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/internal/identityendpoint"
)

// serveCmd offers a profile's tokens to programs in any language as the
// App Service managed-identity endpoint, on loopback, until stopped.
type serveCmd struct {
	addr      string
	resources []string
	envFile   string
}

func (c *serveCmd) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "loopback address to listen on (port 0: a free port)")
	fs.StringSliceVar(&c.resources, "resource", nil, "resource to serve tokens for (repeatable; default: the profile's serve_resources, else any), e.g. https://storage.azure.com")
	fs.StringVar(&c.envFile, "env-file", "", "write the export lines to this file (mode 0600) instead of stdout, for `. FILE`")
}

func (c *serveCmd) validate(*globals) error { return nil }

func (c *serveCmd) run(ctx context.Context, g *globals, e *env, _ []string) error {
	// Nobody watches a server: flows that would prompt are unavailable
	// (sign in first with credhost login).
	s, err := openSession(ctx, g, e, false)
	if err != nil {
		return err
	}
	defer s.Close()
	cred, err := s.Host.Credential(s.Profile)
	if err != nil {
		return usageError{err}
	}
	p, err := s.File.Profile(s.Profile)
	if err != nil {
		return usageError{err}
	}
	resources, err := serveResources(p, c.resources)
	if err != nil {
		return usageError{err}
	}
	srv, err := identityendpoint.Listen(c.addr, identityendpoint.Options{
		Credential: cred,
		Profile:    s.Profile,
		ClientID:   p.ClientID.Raw,
		Resources:  resources,
		Log:        e.log,
	})
	if err != nil {
		return usageError{err}
	}
	exports := fmt.Sprintf("export %s='%s'\nexport %s='%s'\n",
		identityendpoint.EnvEndpoint, srv.Endpoint(), identityendpoint.EnvHeader, srv.Secret().Reveal())
	if c.envFile != "" {
		if err := writePrivate(c.envFile, exports); err != nil {
			srv.Close()
			return fmt.Errorf("--env-file: %w", err)
		}
		fmt.Fprintf(e.stderr, "credhost serve: profile %q at %s; run `. %s` in the shells that should use it\n", s.Profile, srv.Endpoint(), c.envFile)
	} else {
		fmt.Fprint(e.stdout, exports)
		// Closing stdout ends a shell's $(...) around a backgrounded
		// serve: eval "$(credhost serve &)".
		if f, ok := e.stdout.(*os.File); ok && f == os.Stdout {
			_ = f.Close()
		}
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if c.envFile != "" {
		_ = os.Remove(c.envFile)
	}
	return nil
}

// serveResources is what --resource asks for, within the profile's
// serve_resources (flags may narrow the profile's list, never widen it),
// else the profile's list; nil means any.
func serveResources(p *config.Profile, flags []string) ([]string, error) {
	if len(flags) == 0 {
		return p.ServeResources.List, nil
	}
	if !p.ServeResources.IsSet() {
		return flags, nil
	}
	for _, r := range flags {
		if !slices.ContainsFunc(p.ServeResources.List, func(a string) bool { return identityendpoint.SameResource(a, r) }) {
			return nil, fmt.Errorf("--resource %q: profile %q serves only %s (serve_resources at %s)", r, p.Name, strings.Join(p.ServeResources.List, ", "), p.ServeResources.Origin)
		}
	}
	return flags, nil
}

// writePrivate writes data to path with mode 0600, replacing it whole (a
// reader never sees half of it).
func writePrivate(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := io.Copy(tmp, strings.NewReader(data)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
