package client_test

// IdP faults end to end: an embedder, a real clientcreds plugin process,
// and the emulator injecting faults. What is asserted is the outcome (a
// token, or a classified error with a hint) and how many requests the
// emulator saw: never how long anything took.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/msalerr"
)

func TestIdPFaultsEndToEnd(t *testing.T) {
	srv, file, dir := benchSetup(t)
	c, err := client.New(t.Context(), file, "bench", &client.Options{PluginDirs: []string{dir}, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// Warm the plugin up (discovery) so that counts below are the token
	// endpoint's alone.
	if _, err := c.GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{"api://warm/.default"}}); err != nil {
		t.Fatal(err)
	}

	const grant = "token:client_credentials"
	tests := []struct {
		name     string
		faults   []emulator.Fault
		timeout  time.Duration // of the call; 0 means 60s
		wantErr  bool
		hint     string // a substring of the error's hint
		deadline bool   // the error is the deadline's
		requests int    // to the token endpoint
	}{
		{name: "503 once is retried", faults: []emulator.Fault{{Status: http.StatusServiceUnavailable, Times: 1}}, requests: 2},
		{name: "500 then 502 are retried", faults: []emulator.Fault{{Status: 500, Times: 1}, {Status: 502, Times: 1}}, requests: 3},
		{name: "503 throughout: bounded attempts, server hint", faults: []emulator.Fault{{Status: 503}}, wantErr: true, hint: msalerr.HintServer, requests: 4},
		{name: "429 Retry-After seconds", faults: []emulator.Fault{{Status: 429, RetryAfter: "1", Times: 1}}, requests: 2},
		{name: "429 Retry-After HTTP date", faults: []emulator.Fault{{Status: 429, RetryAfter: time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat), Times: 1}}, requests: 2},
		{name: "429 Retry-After beyond the cap is final", faults: []emulator.Fault{{Status: 429, RetryAfter: "3600", Times: 1}}, wantErr: true, hint: msalerr.HintThrottled, requests: 1},
		{name: "connection reset is retried", faults: []emulator.Fault{{Drop: true, Times: 1}}, requests: 2},
		{name: "slow body within the deadline", faults: []emulator.Fault{{SlowBody: 300 * time.Millisecond, Times: 1}}, requests: 1},
		{name: "stalled body ends at the deadline", faults: []emulator.Fault{{SlowBody: time.Hour, Times: 1}}, timeout: 2 * time.Second, wantErr: true, deadline: true, requests: 1},
		{name: "malformed JSON is not retried", faults: []emulator.Fault{{Body: `{"token_type":"Bearer","access_token":"eyJ`, Times: 1}}, wantErr: true, hint: msalerr.HintMalformed, requests: 1},
		{name: "no access_token", faults: []emulator.Fault{{OmitFields: []string{"access_token"}, Times: 1}}, wantErr: true, hint: msalerr.HintMalformed, requests: 1},
		{name: "no expires_in", faults: []emulator.Fault{{OmitFields: []string{"expires_in", "ext_expires_in"}, Times: 1}}, wantErr: true, hint: msalerr.HintMalformed, requests: 1},
		{name: "400 AADSTS answer is final", faults: []emulator.Fault{{Body: `{"error":"invalid_grant","error_description":"AADSTS70000: The grant is invalid.","error_codes":[70000]}`, Status: 400, Times: 1}}, wantErr: true, requests: 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ClearFaults()
			for _, f := range tt.faults {
				f.Endpoint = "token"
				srv.InjectFault(f)
			}
			t.Cleanup(srv.ClearFaults)
			srv.ResetCounts()
			timeout := tt.timeout
			if timeout == 0 {
				timeout = time.Minute
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			tok, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{fmt.Sprintf("api://fault-%d/.default", i)}})
			if got := srv.Count(grant); got != tt.requests {
				t.Errorf("token requests = %d, want %d", got, tt.requests)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("GetToken: %v", err)
				}
				if _, verr := srv.VerifyAccessToken(tok.AccessToken.Reveal()); verr != nil {
					t.Fatalf("token not issued by the emulator: %v", verr)
				}
				return
			}
			if err == nil {
				t.Fatal("GetToken succeeded, want an error")
			}
			var ce *core.Error
			// A call past its deadline is ended by the host (which kills
			// the plugin), so that error is the host's, not the flow's.
			if !errors.As(err, &ce) || (ce.Flow != "clientcreds" && !tt.deadline) {
				t.Fatalf("err = %v (%T), want a *core.Error of clientcreds", err, err)
			}
			if tt.hint != "" && !strings.Contains(ce.Hint, tt.hint) {
				t.Errorf("hint = %q, want %q", ce.Hint, tt.hint)
			}
			if ce.Hint == "" && ce.Code == 0 {
				t.Errorf("error %v has neither a hint nor an AADSTS code", err)
			}
			if tt.deadline && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want the deadline's", err)
			}
			// The next call, with the faults gone, works.
			srv.ClearFaults()
			if _, err := c.GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{fmt.Sprintf("api://fault-%d-after/.default", i)}}); err != nil {
				t.Fatalf("call after the fault: %v", err)
			}
		})
	}
}

// TestTLSHandshakeFaultsEndToEnd: failed handshakes (a new connection each)
// are retried within the bound; beyond it, a classified error.
func TestTLSHandshakeFaultsEndToEnd(t *testing.T) {
	srv, file, dir := benchSetup(t)
	tests := []struct {
		name     string
		failures int
		wantErr  bool
		faults   int // handshakes failed, as the emulator counted them
	}{
		{name: "one failed handshake is retried", failures: 1, faults: 1},
		{name: "failing throughout: four attempts, then an error", failures: 100, wantErr: true, faults: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh client: a new plugin process has no connection yet.
			c, err := client.New(t.Context(), file, "bench", &client.Options{PluginDirs: []string{dir}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			srv.ResetCounts()
			srv.FailTLSHandshakes(tt.failures)
			defer srv.FailTLSHandshakes(0)
			_, err = c.GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{"api://tls/.default"}})
			if got := srv.Count("tls_handshake_fault"); got != tt.faults {
				t.Errorf("failed handshakes = %d, want %d", got, tt.faults)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *core.Error
			if !errors.As(err, &ce) || ce.Hint == "" || core.KindOf(err) != core.KindFailed {
				t.Fatalf("err = %v, want a classified failure with a hint", err)
			}
			if !strings.Contains(err.Error(), "4 attempts") {
				t.Errorf("err = %v, want it to say how many attempts were made", err)
			}
		})
	}
}
