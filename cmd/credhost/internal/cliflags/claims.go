package cliflags

import (
	"errors"
	"fmt"
	"strings"

	"github.com/credhost/credhost/core"
)

// WithClaimsHint adds to err, when the IdP answered `credhost token` with
// a claims challenge (conditional access: the user must step up), the
// challenge and the command that answers it, ready to copy. The exit code
// stays that of err.
func (t *Token) WithClaimsHint(g *Globals, err error) error {
	var e *core.Error
	if !errors.As(err, &e) || e.Kind != core.KindInteractionRequired || e.Claims == "" || e.Claims == t.Claims {
		return err
	}
	cmd := []string{"credhost", "token"}
	if g.Config != "" {
		cmd = append(cmd, "--config", ShellQuote(g.Config))
	}
	if g.Profile != "" {
		cmd = append(cmd, "--profile", ShellQuote(g.Profile))
	}
	for _, s := range t.Scopes {
		cmd = append(cmd, "--scope", ShellQuote(s))
	}
	if t.Tenant != "" {
		cmd = append(cmd, "--tenant", ShellQuote(t.Tenant))
	}
	cmd = append(cmd, "--claims", ShellQuote(e.Claims))
	return fmt.Errorf("%w\nclaims challenge: %s\nto answer it (sign in again satisfying the policy), run:\n  %s", err, e.Claims, strings.Join(cmd, " "))
}

// ShellQuote quotes s for bash, zsh and fish alike.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
