package main

import (
	"context"
	"fmt"

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
	s, err := openSession(ctx, g, e, canPrompt(e, c.noPrompt, false))
	if err != nil {
		return err
	}
	defer s.Close()
	tok, err := s.getToken(ctx, core.TokenRequest{Scopes: c.scopes, TenantID: c.tenant, Claims: c.claims, ForceRefresh: c.forceRefresh})
	if err != nil {
		return err
	}
	return tokenout.Write(e.stdout, tok, c.output, e.getenv(envKubernetesExecInfo))
}
