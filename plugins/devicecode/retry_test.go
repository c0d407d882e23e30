package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/sdk"
)

// TestPollRetriesDoNotStack: the HTTP client's retrying transport
// (internal/httpclient) sits under the RFC 8628 loop, and leaves device
// code polls to it. A 503 and a reset during polling are each one failed
// poll retried by the loop, never also by the transport, and the device
// code request itself (not a poll) is retried by the transport.
func TestPollRetriesDoNotStack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	h.srv.InjectFault(emulator.Fault{Endpoint: "devicecode", Status: http.StatusServiceUnavailable, Times: 1})
	h.srv.InjectFault(emulator.Fault{Endpoint: "token", Status: http.StatusServiceUnavailable, Times: 1})
	h.srv.InjectFault(emulator.Fault{Endpoint: "token", Drop: true, Times: 1})
	h.approveAfter(0, emulator.DefaultUsername)
	if _, err := h.token(t.Context(), sdk.TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := h.srv.Count("devicecode"); n != 2 {
		t.Errorf("device code requests = %d, want 2 (503, then the code: retried by the transport)", n)
	}
	if n := h.srv.Count("token:device_code"); n != 3 {
		t.Errorf("polls = %d, want 3 (503, reset, token)", n)
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "devicecode: server busy; retrying") + strings.Count(logs, "devicecode: poll failed; retrying"); n != 2 {
		t.Errorf("the poll loop retried %d times, want 2:\n%s", n, logs)
	}
	if n := strings.Count(logs, "httpclient: retrying"); n != 1 {
		t.Errorf("the transport retried %d times, want 1 (the device code request only):\n%s", n, logs)
	}
}
