package emulator_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

func TestVerifyAccessToken(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	srv := emulatortest.StartOptions(t, emulator.Options{Config: testConfig(), Now: clock.Now, TokenLifetime: 10 * time.Minute})
	r := postToken(t, srv, tenantID, secretForm(secret))
	tok, _ := r.body["access_token"].(string)
	if r.body["expires_in"] != float64(600) {
		t.Fatalf("expires_in = %v", r.body["expires_in"])
	}
	claims, err := srv.VerifyAccessToken(tok)
	if err != nil {
		t.Fatalf("VerifyAccessToken: %v", err)
	}
	if exp, _ := claims["exp"].(float64); int64(exp) != clock.Now().Add(10*time.Minute).Unix() {
		t.Errorf("exp = %v", claims["exp"])
	}
	if claims["iss"] != srv.Issuer(tenantID) || srv.Issuer(domain) != srv.Issuer(tenantID) {
		t.Errorf("iss = %v, Issuer = %s", claims["iss"], srv.Issuer(tenantID))
	}

	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"aud":"`+resourceID+`"`, `"aud":"api://other"`, 1)
	federated, err := srv.IssueFederatedToken("sub", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"tampered claims":    parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2],
		"tampered signature": parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4] + "AAAA",
		"alg none":           base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		"federated token":    federated,
		"garbage":            "garbage",
		"empty":              "",
	} {
		if _, err := srv.VerifyAccessToken(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// Another emulator's tokens do not verify here.
	other := start(t)
	r2 := postToken(t, other, tenantID, secretForm(secret))
	if _, err := srv.VerifyAccessToken(r2.body["access_token"].(string)); err == nil {
		t.Error("token of another emulator accepted")
	}

	clock.Advance(11 * time.Minute)
	if _, err := srv.VerifyAccessToken(tok); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: err = %v", err)
	}
}

func TestIssueFederatedTokenNeedsStart(t *testing.T) {
	srv, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.IssueFederatedToken("sub", "", 0); err == nil {
		t.Error("issued a federated token before Start")
	}
	if srv.URL() != "" || srv.Close() != nil {
		t.Error("unstarted server: URL or Close misbehave")
	}
}
