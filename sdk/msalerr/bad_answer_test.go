package msalerr

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/credhost/credhost/core"
)

// attempts stands for the retrying transport's error (internal/httpclient).
type attempts struct{ err error }

func (a attempts) Error() string { return a.err.Error() + " (after 4 attempts)" }
func (a attempts) Unwrap() error { return a.err }
func (a attempts) Attempts() int { return 4 }

func TestClassifyUnusableAnswersAndHandshakes(t *testing.T) {
	body := `{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl`
	alert := &net.OpError{Op: "remote error", Net: "tcp", Err: errors.New("tls: internal error")}
	tests := []struct {
		name, hint, text string
		err              error
	}{
		{"malformed JSON", HintMalformed, "not valid JSON",
			msalerrors.InvalidJsonErr{Err: fmt.Errorf("json decode error: unexpected end of JSON input\nraw message was: %s", body)}},
		{"no expires_in", HintMalformed, "no expires_in",
			msalerrors.InvalidJsonErr{Err: errors.New("json decode error: expires_in and expires_on are both missing or invalid\nraw message was: {}")}},
		{"no access_token", HintMalformed, "no access_token", errors.New("response is missing access_token")},
		{"TLS alert", HintHandshake, "TLS handshake", &url.Error{Op: "Post", URL: "https://login.example/t", Err: alert}},
		{"retried reset", HintNetwork, "after 4 attempts", attempts{&url.Error{Op: "Post", URL: "https://login.example/t", Err: &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ce *core.Error
			if !errors.As(Classify("f", tt.err), &ce) {
				t.Fatal("not a *core.Error")
			}
			if ce.Kind != core.KindFailed || ce.Hint != tt.hint || !strings.Contains(ce.Error(), tt.text) {
				t.Fatalf("got %v (kind %v, hint %q); want hint %q and %q in the text", ce, ce.Kind, ce.Hint, tt.hint, tt.text)
			}
			if strings.Contains(ce.Error(), "eyJ") {
				t.Fatalf("the body reached the error: %v", ce)
			}
		})
	}
}
