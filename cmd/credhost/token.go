package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/host"
)

// tokenCmd prints an access token. Only the token goes to stdout.
type tokenCmd struct {
	scopes       []string
	tenant       string
	claims       string
	output       string
	forceRefresh bool
}

func (c *tokenCmd) flags(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&c.scopes, "scope", "s", nil, "scope to request (repeatable), e.g. https://graph.microsoft.com/.default")
	fs.StringVar(&c.tenant, "tenant", "", "tenant to request the token from, overriding the profile's")
	fs.StringVar(&c.claims, "claims", "", "claims challenge (JSON) from a resource")
	fs.StringVarP(&c.output, "output", "o", "raw", "output: raw (the token), json, or claims (the token's decoded payload, not the token)")
	fs.BoolVar(&c.forceRefresh, "force-refresh", false, "skip every cache")
}

func (c *tokenCmd) validate(*globals) error {
	if len(c.scopes) == 0 {
		return usageError{fmt.Errorf("--scope is required, e.g. --scope https://graph.microsoft.com/.default")}
	}
	switch c.output {
	case "raw", "json", "claims":
	default:
		return usageError{fmt.Errorf("--output %q: use raw, json or claims", c.output)}
	}
	return nil
}

func (c *tokenCmd) run(ctx context.Context, g *globals, e *env, _ []string) error {
	h, profile, err := openHost(g, e)
	if err != nil {
		return err
	}
	defer h.Close()
	cred, err := h.Credential(profile)
	if err != nil {
		return usageError{err}
	}
	tok, err := cred.GetToken(ctx, core.TokenRequest{Scopes: c.scopes, TenantID: c.tenant, Claims: c.claims, ForceRefresh: c.forceRefresh})
	if err != nil {
		return err
	}
	e.log.Info().Str("profile", profile).Str("flow", tok.Flow).Time("expires_on", tok.ExpiresOn).Msg("token acquired")
	return writeToken(e.stdout, tok, c.output)
}

// tokenJSON is the --output json shape: stable field names for scripts.
type tokenJSON struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresOn   time.Time `json:"expires_on"`
	Account     *account  `json:"account,omitempty"`
	Flow        string    `json:"flow"`
}

type account struct {
	HomeAccountID string `json:"home_account_id,omitempty"`
	Username      string `json:"username,omitempty"`
	TenantID      string `json:"tenant_id,omitempty"`
}

func writeToken(w io.Writer, tok core.Token, output string) error {
	switch output {
	case "json":
		out := tokenJSON{AccessToken: tok.AccessToken.Reveal(), TokenType: tok.TokenType, ExpiresOn: tok.ExpiresOn.UTC(), Flow: tok.Flow}
		if a := tok.Account; a != (core.Account{}) {
			out.Account = &account{HomeAccountID: a.HomeAccountID, Username: a.Username, TenantID: a.TenantID}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "claims":
		claims, err := decodeClaims(tok.AccessToken.Reveal())
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", claims)
		return err
	default:
		_, err := fmt.Fprintln(w, tok.AccessToken.Reveal())
		return err
	}
}

// decodeClaims pretty-prints a JWT's payload. The signature is not checked:
// this is for people looking at what they got.
func decodeClaims(jwt string) ([]byte, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("the access token is not a JWT (opaque tokens have no claims to show)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("the access token's payload is not base64url: %w", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("the access token's payload is not JSON: %w", err)
	}
	return json.MarshalIndent(claims, "", "  ")
}

// openHost loads the config and returns a host and the profile to use.
func openHost(g *globals, e *env) (*host.Host, string, error) {
	file, err := host.LoadConfig(g.config, e.getenv)
	if err != nil {
		return nil, "", usageError{err}
	}
	profile, err := host.SelectProfile(file, g.profile, e.getenv)
	if err != nil {
		return nil, "", usageError{err}
	}
	h := host.New(file, &host.Options{Log: e.log, Getenv: e.getenv, PluginDirs: nonEmpty(g.pluginDir), UI: &stderrUI{w: e.stderr, log: e.log}})
	return h, profile, nil
}

// stderrUI shows prompts on stderr, where a person at a terminal (or the
// log of a CI job) sees them; stdout stays clean for the token.
type stderrUI struct {
	w   io.Writer
	log zerolog.Logger
}

func (u *stderrUI) Prompt(_ context.Context, p core.Prompt) error {
	msg := p.Message
	if msg == "" {
		msg = fmt.Sprintf("To sign in, open %s and enter the code %s", p.VerificationURI, p.UserCode)
	}
	if !p.ExpiresOn.IsZero() {
		msg += fmt.Sprintf(" (expires at %s)", p.ExpiresOn.Local().Format(time.Kitchen))
	}
	_, err := fmt.Fprintln(u.w, msg)
	return err
}

func (u *stderrUI) Progress(_ context.Context, message string) {
	u.log.Debug().Msg(message)
}
