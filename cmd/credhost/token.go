package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/cmd/credhost/internal/tokenout"
	"github.com/credhost/credhost/core"
)

// tokenCmd prints an access token. Only the token goes to stdout.
type tokenCmd struct {
	scopes       []string
	tenant       string
	claims       string
	output       string
	forceRefresh bool
	noPrompt     bool
}

func (c *tokenCmd) flags(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&c.scopes, "scope", "s", nil, "scope to request (repeatable), e.g. https://graph.microsoft.com/.default")
	fs.StringVar(&c.tenant, "tenant", "", "tenant to request the token from, overriding the profile's")
	fs.StringVar(&c.claims, "claims", "", "claims challenge (JSON) from a resource")
	fs.StringVarP(&c.output, "output", "o", "raw", "output: raw (the token), json, exec-credential (for kubectl), az (as az account get-access-token), or claims (the token's decoded payload, not the token)")
	fs.BoolVar(&c.forceRefresh, "force-refresh", false, "skip every cache")
	fs.BoolVar(&c.noPrompt, "no-prompt", false, "never prompt: flows that need the user are unavailable (also when "+envKubernetesExecInfo+" says kubectl is not interactive)")
}

func (c *tokenCmd) validate(*globals) error {
	if len(c.scopes) == 0 {
		return usageError{fmt.Errorf("--scope is required, e.g. --scope https://graph.microsoft.com/.default")}
	}
	switch c.output {
	case "raw", "json", "claims", "exec-credential", "az":
	default:
		return usageError{fmt.Errorf("--output %q: use raw, json, exec-credential, az or claims", c.output)}
	}
	return nil
}

func (c *tokenCmd) run(ctx context.Context, g *globals, e *env, _ []string) error {
	prompt := canPrompt(e, c.noPrompt, false)
	s, err := openSession(ctx, g, e, prompt)
	if err != nil {
		return err
	}
	defer s.Close()
	s.useAgent(g, prompt)
	tok, err := s.getToken(ctx, core.TokenRequest{Scopes: c.scopes, TenantID: c.tenant, Claims: c.claims, ForceRefresh: c.forceRefresh})
	if err != nil {
		return c.withClaimsHint(g, err)
	}
	return tokenout.Write(e.stdout, tok, c.output, e.getenv(envKubernetesExecInfo))
}

// withClaimsHint adds to err, when the IdP answered with a claims
// challenge (conditional access: the user must step up), the challenge
// and the command that answers it, ready to copy. The exit code stays
// that of err.
func (c *tokenCmd) withClaimsHint(g *globals, err error) error {
	var e *core.Error
	if !errors.As(err, &e) || e.Kind != core.KindInteractionRequired || e.Claims == "" || e.Claims == c.claims {
		return err
	}
	cmd := []string{"credhost", "token"}
	if g.config != "" {
		cmd = append(cmd, "--config", shellQuote(g.config))
	}
	if g.profile != "" {
		cmd = append(cmd, "--profile", shellQuote(g.profile))
	}
	for _, s := range c.scopes {
		cmd = append(cmd, "--scope", shellQuote(s))
	}
	if c.tenant != "" {
		cmd = append(cmd, "--tenant", shellQuote(c.tenant))
	}
	cmd = append(cmd, "--claims", shellQuote(e.Claims))
	return fmt.Errorf("%w\nclaims challenge: %s\nto answer it (sign in again satisfying the policy), run:\n  %s", err, e.Claims, strings.Join(cmd, " "))
}
