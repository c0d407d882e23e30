package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzOAuthError: the poll loop reads the "error" of every 400 answer
// (poll.go oauthError) and must give MSAL the body back unchanged,
// whatever the server sent.
func FuzzOAuthError(f *testing.F) {
	for _, s := range []string{
		`{"error":"authorization_pending","error_description":"AADSTS70016: pending"}`,
		`{"error":"slow_down"}`,
		`{"error":"expired_token","error_codes":[70020]}`,
		`{"error":["x"]}`, `null`, ``, `{"error":"\u0000"}`, strings.Repeat("[", 512),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		resp := &http.Response{StatusCode: 400, Body: io.NopCloser(strings.NewReader(body))}
		code, err := oauthError(resp)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := io.ReadAll(resp.Body)
		if len(body) <= maxErrorBody && string(again) != body {
			t.Fatalf("body not restored: got %q, want %q", again, body)
		}
		if code == "authorization_pending" && !strings.Contains(body, "authorization_pending") {
			t.Fatalf("code %q from a body without it: %q", code, body)
		}
	})
}
