package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

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
	fs.StringVarP(&c.output, "output", "o", "raw", "output: raw (the token), json, exec-credential (for kubectl), or claims (the token's decoded payload, not the token)")
	fs.BoolVar(&c.forceRefresh, "force-refresh", false, "skip every cache")
	fs.BoolVar(&c.noPrompt, "no-prompt", false, "never prompt: flows that need the user are unavailable (also when "+envKubernetesExecInfo+" says kubectl is not interactive)")
}

func (c *tokenCmd) validate(*globals) error {
	if len(c.scopes) == 0 {
		return usageError{fmt.Errorf("--scope is required, e.g. --scope https://graph.microsoft.com/.default")}
	}
	switch c.output {
	case "raw", "json", "claims", "exec-credential":
	default:
		return usageError{fmt.Errorf("--output %q: use raw, json, exec-credential or claims", c.output)}
	}
	return nil
}

func (c *tokenCmd) run(ctx context.Context, g *globals, e *env, _ []string) error {
	s, err := openSession(ctx, g, e, !c.noPrompt && !kubectlNonInteractive(e.getenv))
	if err != nil {
		return err
	}
	defer s.Close()
	tok, err := s.getToken(ctx, core.TokenRequest{Scopes: c.scopes, TenantID: c.tenant, Claims: c.claims, ForceRefresh: c.forceRefresh})
	if err != nil {
		return err
	}
	if c.output == "exec-credential" {
		return writeExecCredential(e.stdout, tok, e.getenv)
	}
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
