package clientauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/boundedio"
	"github.com/credhost/credhost/sdk/jwtpeek"
)

// AssertionCallback is the shape MSAL calls whenever it needs a client
// assertion. Implementations here are safe for concurrent use.
type AssertionCallback = func(ctx context.Context, opts confidential.AssertionRequestOptions) (string, error)

// AssertionCommandTimeout bounds one run of client_assertion_command.
const AssertionCommandTimeout = 30 * time.Second

// commandTimeout is AssertionCommandTimeout; tests shorten it.
var commandTimeout = AssertionCommandTimeout

// Environment given to client_assertion_command.
const (
	EnvClientID      = "CREDHOST_CLIENT_ID"
	EnvTokenEndpoint = "CREDHOST_TOKEN_ENDPOINT"
)

// maxAssertion caps what is read from a command or file (a JWT is a few KiB).
const maxAssertion = 1 << 20

// LiteralAssertion returns a callback that always presents assertion. An
// assertion whose exp has passed is refused locally with a clear error
// rather than sent.
func LiteralAssertion(assertion core.Secret) AssertionCallback {
	return func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		a := assertion.Reveal()
		if exp, ok := jwtExpiry(a); ok && time.Now().After(exp) {
			return "", &core.Error{
				Kind: core.KindFailed,
				Err:  fmt.Errorf("%s expired at %s", OptClientAssertion, exp.UTC().Format(time.RFC3339)),
				Hint: "a literal client_assertion does not renew itself; use client_assertion_command or federated_token_file for assertions that rotate",
			}
		}
		return a, nil
	}
}

// FileAssertion returns a callback that reads the assertion from path on
// every call, because workload identity (kubelet) rotates the file.
func FileAssertion(path string) AssertionCallback {
	return func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		const hint = "check that the workload identity token is mounted and readable (AZURE_FEDERATED_TOKEN_FILE, the service account's azure.workload.identity/use label)"
		data, err := readLimited(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", &core.Error{Kind: core.KindFailed, Err: fmt.Errorf("%s %s does not exist", OptFederatedTokenFile, path), Hint: hint}
		case err != nil:
			return "", &core.Error{Kind: core.KindFailed, Err: fmt.Errorf("%s %s cannot be read: %v", OptFederatedTokenFile, path, pathErrText(err)), Hint: hint}
		}
		a := strings.TrimSpace(string(data))
		if a == "" {
			return "", &core.Error{Kind: core.KindFailed, Err: fmt.Errorf("%s %s is empty", OptFederatedTokenFile, path), Hint: hint}
		}
		return a, nil
	}
}

// CommandAssertion returns a callback that runs commandLine through the
// shell on every call, with AssertionCommandTimeout, and presents its
// trimmed stdout. Errors report the exit code and the first line of stderr
// (at most 200 characters, with anything that looks like a token or equals
// stdout redacted); they never repeat stdout.
func CommandAssertion(commandLine string) AssertionCallback {
	return func(ctx context.Context, opts confidential.AssertionRequestOptions) (string, error) {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		runCtx, cancel := context.WithTimeout(ctx, commandTimeout)
		defer cancel()
		cmd := shellCommand(runCtx, commandLine)
		killGroup(cmd)
		cmd.Env = append(os.Environ(), EnvClientID+"="+opts.ClientID, EnvTokenEndpoint+"="+opts.TokenEndpoint)
		var stdout, stderr capped
		stdout.limit, stderr.limit = maxAssertion, 64<<10
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		// A grandchild holding the pipes open must not hang us past the
		// deadline.
		cmd.WaitDelay = 2 * time.Second
		runErr := cmd.Run()
		out := strings.TrimSpace(stdout.String())

		if runErr != nil {
			if err := ctx.Err(); err != nil {
				return "", err // the caller gave up; let the classifier say so
			}
			if runCtx.Err() != nil {
				return "", &core.Error{Kind: core.KindFailed,
					Err:  fmt.Errorf("%s did not finish within %s", OptClientAssertionCommand, commandTimeout),
					Hint: "make the command print the assertion faster, or use federated_token_file"}
			}
			var ee *exec.ExitError
			if errors.As(runErr, &ee) {
				msg := fmt.Sprintf("%s exited with code %d", OptClientAssertionCommand, ee.ExitCode())
				if line := stderrLine(stderr.String(), out); line != "" {
					msg += ": " + line
				}
				return "", &core.Error{Kind: core.KindFailed, Err: errors.New(msg),
					Hint: "run the command by hand to see its full output"}
			}
			return "", &core.Error{Kind: core.KindFailed,
				Err:  fmt.Errorf("%s could not be started: %v", OptClientAssertionCommand, startErrText(runErr)),
				Hint: "check that the command exists and is executable"}
		}
		if stdout.truncated {
			return "", &core.Error{Kind: core.KindFailed, Err: fmt.Errorf("%s printed more than %d bytes", OptClientAssertionCommand, maxAssertion)}
		}
		if out == "" {
			return "", &core.Error{Kind: core.KindFailed,
				Err:  fmt.Errorf("%s printed nothing on stdout", OptClientAssertionCommand),
				Hint: "the command must print the assertion (a JWT) on stdout"}
		}
		return out, nil
	}
}

func shellCommand(ctx context.Context, line string) *exec.Cmd {
	if runtime.GOOS == "windows" {
		return exec.CommandContext(ctx, "cmd", "/C", line)
	}
	return exec.CommandContext(ctx, "/bin/sh", "-c", line)
}

// capped is a bytes.Buffer that keeps at most limit bytes.
type capped struct {
	bytes.Buffer
	limit     int
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if room := c.limit - c.Buffer.Len(); room < len(p) {
		c.truncated = true
		if room < 0 {
			room = 0
		}
		p = p[:room]
	}
	c.Buffer.Write(p)
	return n, nil
}

// tokenLike matches JWTs and other long opaque credentials.
var tokenLike = regexp.MustCompile(`[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*|[A-Za-z0-9+/_\-]{40,}={0,2}`)

// stderrLine returns the first non-empty line of stderr, with token-like
// text and the command's stdout redacted, cut to 200 characters.
func stderrLine(stderr, stdout string) string {
	var line string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			line = l
			break
		}
	}
	return Redact(line, stdout)
}

// Redact removes secrets and token-like text from s and cuts it to 200
// characters, for quoting foreign output in an error.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = tokenLike.ReplaceAllString(s, "[redacted]")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	const max = 200
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return s
}

// readLimited reads a federated token file: a regular file of at most
// maxAssertion bytes (a FIFO or a device is refused, never waited on).
func readLimited(path string) ([]byte, error) {
	return boundedio.ReadFile(path, maxAssertion)
}

// pathErrText drops the path (already in the message) from an fs error.
func pathErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func startErrText(err error) string {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err.Error()
	}
	return pathErrText(err)
}

// checkJWT verifies that a looks like a compact JWS without printing it.
func checkJWT(a string) error {
	parts := strings.Split(a, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return errors.New("is not a JWT (expected three dot-separated base64url parts)")
	}
	for _, p := range parts[:2] {
		if _, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p, "=")); err != nil {
			return errors.New("is not a JWT (a part is not base64url)")
		}
	}
	return nil
}

// jwtExpiry returns the exp claim of a compact JWT, if it has one.
func jwtExpiry(a string) (time.Time, bool) {
	return jwtpeek.Expiry(a)
}
