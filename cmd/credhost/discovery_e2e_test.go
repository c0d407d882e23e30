package main

import (
	"testing"

	"github.com/credhost/credhost/emulator"
)

// TestColdMissMakesOneRequest: a first process asks the identity
// provider for discovery and a token; the host keeps the discovery
// answers in the store (plugin protocol 3), so a miss in a NEW process
// (another scope) makes exactly one request, the token request. logout
// deletes them, and the next miss asks for discovery again.
func TestColdMissMakesOneRequest(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
	env := []string{"CI_SECRET=" + secret}
	miss := func(scope string) (all, token int) {
		t.Helper()
		w.srv.ResetCounts()
		if r := w.run(env, "token", "--config", cfg, "--scope", scope); r.code != 0 {
			t.Fatalf("token %s: exit %d: %s", scope, r.code, r.stderr)
		}
		return w.srv.Count(emulator.CountAll), w.srv.Count("token")
	}
	if all, token := miss("api://first/.default"); token != 1 || all < 2 {
		t.Fatalf("first miss: %d requests, %d token requests; want discovery and one token request", all, token)
	}
	if all, token := miss("api://second/.default"); all != 1 || token != 1 {
		t.Fatalf("cold miss in a new process: %d requests (%d token, %d discovery, %d instance discovery), want exactly the token request",
			all, token, w.srv.Count("discovery"), w.srv.Count("instance_discovery"))
	}
	if r := w.run(env, "logout", "--config", cfg); r.code != 0 {
		t.Fatalf("logout: exit %d: %s", r.code, r.stderr)
	}
	if all, token := miss("api://third/.default"); token != 1 || all < 2 {
		t.Fatalf("miss after logout: %d requests, %d token requests; want discovery asked again", all, token)
	}
}
