package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core"
)

// azureDevOpsScope is the scope of Azure DevOps, the usual git host
// behind Entra ID.
const azureDevOpsScope = "499b84ac-1321-427f-aa17-267ca6975798/.default"

// gitCredentialCmd speaks git's credential helper protocol
// (gitcredentials(7)): git writes key=value lines and a blank line on
// stdin and names the action as the last argument. As Git Credential
// Manager does for Azure DevOps, the password is an access token.
//
//   - get: answers username and password (the token) and
//     password_expiry_utc, so git (2.41+) does not reuse it past expiry.
//   - store: a no-op. git calls it after a success, but the token is
//     already in credhost's cache, and git must not keep a copy.
//   - erase: git calls it when the server refused the password; the
//     profile's cached access tokens are dropped so that the next get
//     asks the flow for a new one (sign-ins stay).
//
// git runs helpers from IDEs and CI jobs as well as terminals: a sign-in
// prompt is shown only where someone can answer it (see canPrompt).
type gitCredentialCmd struct {
	scope    string
	username string
	noPrompt bool
}

func (c *gitCredentialCmd) flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.scope, "scope", "s", azureDevOpsScope, "scope of the git server (default: Azure DevOps)")
	fs.StringVar(&c.username, "username", "", "username to answer (default: git's, else the signed-in account, else \"credhost\")")
	fs.BoolVar(&c.noPrompt, "no-prompt", false, "never prompt (also when GIT_TERMINAL_PROMPT=0 or stderr is no terminal): flows that need the user are unavailable; sign in with credhost login first")
}

func (c *gitCredentialCmd) validate(*globals) error { return nil }

func (c *gitCredentialCmd) run(ctx context.Context, g *globals, e *env, args []string) error {
	if len(args) != 1 {
		return usageError{errors.New("git runs `credhost git-credential [flags] get|store|erase`; configure it with: git config --global credential.https://dev.azure.com.helper '/path/to/credhost git-credential --profile P'")}
	}
	in, err := readGitRequest(e.stdin)
	if err != nil {
		return usageError{err}
	}
	switch args[0] {
	case "store":
		return nil
	case "get", "erase":
	default:
		// gitcredentials(7): ignore actions we do not know.
		return nil
	}
	prompt := canPrompt(e, c.noPrompt, true)
	s, err := openSession(ctx, g, e, prompt)
	if err != nil {
		return err
	}
	defer s.Close()
	if args[0] == "erase" {
		return s.Host.ForgetTokens(ctx, s.Profile)
	}
	s.useAgent(g, prompt)
	tok, err := s.getToken(ctx, core.TokenRequest{Scopes: []string{c.scope}})
	if err != nil {
		return err
	}
	user := firstOf(c.username, in["username"], tok.Account.Username, "credhost")
	_, err = fmt.Fprintf(e.stdout, "username=%s\npassword=%s\npassword_expiry_utc=%d\n\n", user, tok.AccessToken.Reveal(), tok.ExpiresOn.Unix())
	return err
}

// readGitRequest reads key=value lines up to a blank line or EOF.
func readGitRequest(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	if r == nil {
		return out, nil
	}
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			// Not echoed: git's lines may carry a password.
			return nil, errors.New("git sent a line that is not key=value")
		}
		out[k] = v
	}
	return out, sc.Err()
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
