package clientauth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/credhost/credhost/core"
)

var reqOpts = confidential.AssertionRequestOptions{ClientID: "client-123", TokenEndpoint: "https://idp.example/t/oauth2/v2.0/token"}

func jwtWithExp(exp time.Time) string {
	return b64(`{"alg":"none"}`) + "." + b64(fmt.Sprintf(`{"exp":%d}`, exp.Unix())) + ".c2ln"
}

func TestLiteralAssertion(t *testing.T) {
	tests := []struct {
		name      string
		assertion string
		wantErr   string
	}{
		{name: "no exp", assertion: fakeJWT},
		{name: "valid", assertion: jwtWithExp(time.Now().Add(time.Hour))},
		{name: "expired", assertion: jwtWithExp(time.Now().Add(-time.Minute)), wantErr: "client_assertion expired at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LiteralAssertion(core.NewSecret(tt.assertion))(context.Background(), reqOpts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), tt.assertion) {
					t.Fatalf("error = %v, want %q without the assertion", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.assertion {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestFileAssertion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	cb := FileAssertion(path)

	// Missing file: the error names the path.
	_, err := cb(context.Background(), reqOpts)
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Kind != core.KindFailed || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing file: error = %v", err)
	}

	// Empty file.
	if err := os.WriteFile(path, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cb(context.Background(), reqOpts); err == nil || !strings.Contains(err.Error(), path+" is empty") {
		t.Fatalf("empty file: error = %v", err)
	}

	// Re-read on every call: kubelet rotates the file.
	for _, tok := range []string{"first.token.value", "second.token.value"} {
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := cb(context.Background(), reqOpts)
		if err != nil || got != tok {
			t.Fatalf("got %q, %v; want %q", got, err, tok)
		}
	}

	// A canceled context stops before reading.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cb(ctx, reqOpts); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: error = %v", err)
	}
}

func TestCommandAssertion(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test commands are POSIX shell")
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "assertion")
	const assertion = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlY2FuYXJ5"
	if err := os.WriteFile(tokenFile, []byte(assertion+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 500)

	tests := []struct {
		name     string
		command  string
		want     string
		wantErr  []string // substrings the error must contain
		leakFree []string // substrings the error must not contain
	}{
		{name: "echo", command: "echo '  a.b.c  '", want: "a.b.c"},
		{name: "cat of a file", command: "cat " + tokenFile, want: assertion},
		{name: "environment", command: `printf '%s|%s' "$CREDHOST_CLIENT_ID" "$CREDHOST_TOKEN_ENDPOINT"`, want: reqOpts.ClientID + "|" + reqOpts.TokenEndpoint},
		{name: "exit code and first stderr line", command: "echo 'first problem' >&2; echo second >&2; exit 3",
			wantErr: []string{"client_assertion_command exited with code 3: first problem"}, leakFree: []string{"second"}},
		{name: "stderr echoing the assertion is redacted", command: "cat " + tokenFile + "; cat " + tokenFile + " >&2; exit 1",
			wantErr: []string{"code 1", "[redacted]"}, leakFree: []string{assertion, "eyJhbGciOiJub25lIn0"}},
		{name: "token-like stderr is redacted", command: "echo 'bad token eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4eHh4eHgifQ.abcdefgh' >&2; exit 2",
			wantErr: []string{"bad token [redacted]"}, leakFree: []string{"eyJ0eXAi"}},
		{name: "long stderr is truncated", command: "echo " + long + " >&2; exit 4",
			wantErr: []string{"code 4"}, leakFree: []string{strings.Repeat("x", 201)}},
		{name: "nothing on stdout", command: "true", wantErr: []string{"printed nothing on stdout"}},
		{name: "missing command", command: "/nonexistent/credhost-assertion", wantErr: []string{"exited with code 127"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CommandAssertion(tt.command)(context.Background(), reqOpts)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var ce *core.Error
			if !errors.As(err, &ce) || ce.Kind != core.KindFailed {
				t.Fatalf("error = %v (%T), want *core.Error KindFailed", err, err)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error = %q, want it to contain %q", err, s)
				}
			}
			for _, s := range tt.leakFree {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error = %q, must not contain %q", err, s)
				}
			}
		})
	}
}

func TestCommandAssertionTimeout(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test commands are POSIX shell")
	}
	old := commandTimeout
	commandTimeout = 200 * time.Millisecond
	t.Cleanup(func() { commandTimeout = old })

	start := time.Now()
	_, err := CommandAssertion("sleep 10")(context.Background(), reqOpts)
	if err == nil || !strings.Contains(err.Error(), "did not finish within 200ms") {
		t.Fatalf("error = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v, want about 200ms", d)
	}

	// The caller's own deadline is reported as the context error.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	commandTimeout = time.Minute
	if _, err := CommandAssertion("sleep 10")(ctx, reqOpts); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller deadline: error = %v", err)
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("value is s3cr3t-value", "s3cr3t-value"); got != "value is [redacted]" {
		t.Errorf("Redact = %q", got)
	}
	if got := Redact("line\twith\x1bcontrol"); strings.ContainsAny(got, "\t\x1b") {
		t.Errorf("Redact kept control characters: %q", got)
	}
}
