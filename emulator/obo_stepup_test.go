package emulator_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
)

// TestOnBehalfOfSteppedUp: the client answers the downstream challenge a
// web API relayed (claims on its own sign-in for the API); its token
// carries acrs, and on-behalf-of with it passes the downstream policy
// without claims. A token without acrs still gets the challenge.
func TestOnBehalfOfSteppedUp(t *testing.T) {
	srv := startOBO(t)
	plain := userToken(t, srv, tenantID, caUsername, "api://"+clientID, time.Hour)
	r := postToken(t, srv, tenantID, oboForm(plain, graphRead))
	wantAADSTS(t, r, 400, 50076, "interaction_required")
	claims, _ := r.body["claims"].(string)

	r = postToken(t, srv, tenantID, url.Values{"grant_type": {"password"}, "client_id": {emulator.DefaultPublicClientID},
		"username": {caUsername}, "password": {"carol-password"}, "scope": {"api://" + clientID + "/.default"}, "claims": {claims}})
	in, _ := r.body["access_token"].(string)
	if c, err := srv.VerifyAccessToken(in); r.status != 200 || err != nil || c["acrs"] == nil {
		t.Fatalf("sign-in for the API with the claims: status %d, acrs %v, %v", r.status, c["acrs"], err)
	}
	r = postToken(t, srv, tenantID, oboForm(in, graphRead))
	out, _ := r.body["access_token"].(string)
	if c, err := srv.VerifyAccessToken(out); r.status != 200 || err != nil || c["acrs"] == nil {
		t.Fatalf("on-behalf-of with a stepped-up assertion: status %d %v, acrs %v, %v", r.status, r.body["error_description"], c["acrs"], err)
	}
	if r := postToken(t, srv, tenantID, oboForm(plain, graphRead)); r.status != 400 {
		t.Errorf("the plain assertion again: status %d", r.status)
	}
}
