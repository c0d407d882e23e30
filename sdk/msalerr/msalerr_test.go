package msalerr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/credhost/credhost/core"
)

const canary = "canary-secret-b0d5"

// callErr builds the error MSAL returns for an HTTP error response, with the
// request form (and a secret) where MSAL would have it.
func callErr(status int, body string) error {
	form := url.Values{"client_secret": {canary}, "grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, "https://login.example/tenant/oauth2/v2.0/token?x=1", strings.NewReader(form.Encode()))
	resp := &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Request: req}
	return fmt.Errorf("wrapped: %w", msalerrors.CallErr{
		Req: req, Resp: resp,
		Err: fmt.Errorf("http call(%s)(POST) error: reply status code was %d:\n%s [%s]", req.URL, status, body, canary),
	})
}

// drainedCallErr is callErr after MSAL has read the response body itself
// (its device code loop does): the body survives only in the error text.
func drainedCallErr(status int, body string) error {
	req, _ := http.NewRequest(http.MethodPost, "https://login.example/tenant/oauth2/v2.0/token", nil)
	resp := &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader("")), Request: req}
	return msalerrors.CallErr{Req: req, Resp: resp,
		Err: fmt.Errorf("http call(%s)(POST) error: reply status code was %d:\n%s", req.URL, status, body)}
}

const invalidSecret = `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2026-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2026-01-01 00:00:00Z","trace_id":"t-1","correlation_id":"c-1"}`

const mfa = `{"error":"interaction_required","error_description":"AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication.\nTrace ID: t-2","error_codes":[50076],"trace_id":"t-2","correlation_id":"c-2","suberror":"basic_action","claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"p1\"]}}}"}`

func TestClassifyResponses(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		kind      core.Kind
		code      int
		oauth     string
		corr      string
		trace     string
		claims    string
		hint      string // substring
		msg       string // substring of Error()
		notInText []string
	}{
		{name: "invalid client secret", err: callErr(401, invalidSecret), kind: core.KindFailed, code: 7000215, oauth: "invalid_client",
			corr: "c-1", trace: "t-1", hint: "client secret is wrong", msg: "AADSTS7000215: Invalid client secret provided.",
			notInText: []string{canary, "Trace ID", "Timestamp", "client_secret="}},
		{name: "mfa required keeps claims", err: callErr(400, mfa), kind: core.KindInteractionRequired, code: 50076, oauth: "interaction_required",
			corr: "c-2", trace: "t-2", claims: `{"access_token":{"capolids":{"essential":true,"values":["p1"]}}}`, hint: "multi-factor", msg: "AADSTS50076"},
		{name: "body drained by MSAL, kept in the text", err: drainedCallErr(400, mfa), kind: core.KindInteractionRequired, code: 50076,
			oauth: "interaction_required", corr: "c-2", trace: "t-2", claims: `{"access_token":{"capolids":{"essential":true,"values":["p1"]}}}`, hint: "multi-factor", msg: "AADSTS50076"},
		{name: "unknown code with interaction_required", err: callErr(400, `{"error":"interaction_required","error_description":"AADSTS99999: something new","error_codes":[99999]}`),
			kind: core.KindInteractionRequired, code: 99999, oauth: "interaction_required", hint: "interactive flow", msg: "AADSTS99999: something new"},
		{name: "code only in description", err: callErr(400, `{"error":"invalid_grant","error_description":"AADSTS70011: The provided request must include a 'scope' input parameter."}`),
			kind: core.KindFailed, code: 70011, oauth: "invalid_grant", hint: "/.default", msg: "AADSTS70011"},
		{name: "unknown code", err: callErr(400, `{"error":"invalid_request","error_description":"AADSTS12345: odd","error_codes":[12345]}`),
			kind: core.KindFailed, code: 12345, oauth: "invalid_request", msg: "AADSTS12345: odd"},
		{name: "oauth error without description", err: callErr(400, `{"error":"unauthorized_client"}`),
			kind: core.KindFailed, oauth: "unauthorized_client", msg: "unauthorized_client"},
		{name: "server error without JSON", err: callErr(503, "<html>down "+canary+"</html>"),
			kind: core.KindFailed, hint: "server error", msg: "HTTP 503 from POST https://login.example/tenant/oauth2/v2.0/token", notInText: []string{canary, "x=1", "html"}},
		{name: "throttled", err: callErr(429, "slow down"), kind: core.KindFailed, hint: "throttling", msg: "HTTP 429"},
		{name: "throttled with JSON", err: callErr(429, `{"error":"temporarily_unavailable","error_description":"busy"}`), kind: core.KindFailed, oauth: "temporarily_unavailable", hint: "throttling", msg: "temporarily_unavailable: busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Classify("clientcreds", tt.err)
			var e *core.Error
			if !errors.As(err, &e) {
				t.Fatalf("Classify() = %T %v, want *core.Error", err, err)
			}
			if e.Flow != "clientcreds" || e.Kind != tt.kind || e.Code != tt.code || e.OAuthCode != tt.oauth ||
				e.CorrelationID != tt.corr || e.TraceID != tt.trace || e.Claims != tt.claims {
				t.Errorf("got flow %q kind %v code %d oauth %q corr %q trace %q claims %q", e.Flow, e.Kind, e.Code, e.OAuthCode, e.CorrelationID, e.TraceID, e.Claims)
			}
			if !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("hint = %q, want it to contain %q", e.Hint, tt.hint)
			}
			text := err.Error()
			if !strings.Contains(text, tt.msg) {
				t.Errorf("Error() = %q, want it to contain %q", text, tt.msg)
			}
			for _, s := range append(tt.notInText, canary) {
				if strings.Contains(text, s) {
					t.Errorf("Error() = %q, must not contain %q", text, s)
				}
			}
			var ce msalerrors.CallErr
			if errors.As(err, &ce) {
				t.Error("the MSAL CallErr (with the request body) is still reachable through Unwrap")
			}
		})
	}
}

func TestClassifyOther(t *testing.T) {
	// A TLS server the system roots do not trust.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	_, tlsErr := (&http.Client{}).Get(srv.URL)

	// A port nothing listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, dialErr := (&http.Client{}).Get("https://" + addr + "/t")

	preset := &core.Error{Kind: core.KindInteractionRequired, Err: errors.New("from a callback")}
	cfgErr := &core.ConfigError{Flow: "x"}

	tests := []struct {
		name  string
		err   error
		kind  core.Kind
		is    error  // errors.Is must hold
		hint  string // substring
		msg   string // substring
		exact error  // the very error returned
	}{
		{name: "canceled", err: fmt.Errorf("server response error:\n %w", &url.Error{Op: "Post", URL: "https://h/t", Err: context.Canceled}), kind: core.KindFailed, is: context.Canceled, msg: "canceled"},
		{name: "deadline", err: context.DeadlineExceeded, kind: core.KindFailed, is: context.DeadlineExceeded, msg: "timed out"},
		{name: "untrusted certificate", err: fmt.Errorf("server response error:\n %w", tlsErr), kind: core.KindFailed, hint: "ca_file", msg: "TLS handshake"},
		{name: "connection refused", err: fmt.Errorf("server response error:\n %w", dialErr), kind: core.KindFailed, hint: "network", msg: "connection refused"},
		{name: "url error without a typed cause", err: &url.Error{Op: "Post", URL: "https://h/t?q=" + canary, Err: io.ErrUnexpectedEOF}, kind: core.KindFailed, hint: "network", msg: "Post https://h/t: unexpected EOF"},
		{name: "body after first line is dropped", err: fmt.Errorf("json decode error: bad\njson message bytes were: {\"access_token\":\"%s\"}", canary), kind: core.KindFailed, msg: "json decode error: bad"},
		{name: "token-like text is redacted", err: errors.New("odd eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0xx.sigsigsig"), kind: core.KindFailed, msg: "odd [redacted]"},
		{name: "core error passes through with flow", err: fmt.Errorf("msal: %w", preset), kind: core.KindInteractionRequired, msg: "clientcreds: interaction required: from a callback"},
		{name: "config error passes through", err: cfgErr, exact: cfgErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Classify("clientcreds", tt.err)
			if tt.exact != nil {
				if err != tt.exact {
					t.Fatalf("Classify() = %v, want the same error", err)
				}
				return
			}
			var e *core.Error
			if !errors.As(err, &e) {
				t.Fatalf("Classify() = %T %v", err, err)
			}
			if e.Kind != tt.kind || e.Flow != "clientcreds" {
				t.Errorf("kind %v flow %q", e.Kind, e.Flow)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("hint = %q, want %q", e.Hint, tt.hint)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Error() = %q, want %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "eyJ") {
				t.Errorf("Error() leaks: %q", err)
			}
		})
	}
	if preset.Flow != "" {
		t.Error("Classify modified the caller's *core.Error")
	}
	if Classify("f", nil) != nil {
		t.Error("Classify(nil) != nil")
	}
}
