package emulator_test

import (
	"net/url"
	"testing"
)

func TestCounters(t *testing.T) {
	srv := start(t)
	app := newConfidential(t, srv, tenantID, clientID, secretCred(t, secret))
	for i := 0; i < 2; i++ {
		if _, err := app.AcquireTokenByCredential(t.Context(), []string{scope}); err != nil {
			t.Fatal(err)
		}
	}
	postToken(t, srv, tenantID, url.Values{"grant_type": {"no-such-grant"}})
	postToken(t, srv, tenantID, url.Values{})
	get(t, srv, "/"+tenantID+"/discovery/v2.0/keys")
	get(t, srv, "/nowhere")
	for key, want := range map[string]int{
		"discovery":                1, // MSAL caches the endpoints
		"token":                    3, // one MSAL call (the second is cached) and two bad requests
		"token:client_credentials": 1,
		"token:no-such-grant":      0, // only grants the emulator knows get a counter
		"keys":                     1,
		"not_found":                0,
	} {
		if got := srv.Count(key); got != want {
			t.Errorf("Count(%q) = %d, want %d", key, got, want)
		}
	}
	srv.ResetCounts()
	if srv.Count("token") != 0 || srv.Count("discovery") != 0 {
		t.Error("ResetCounts kept counts")
	}
}
