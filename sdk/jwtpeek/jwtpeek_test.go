package jwtpeek

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func jwt(payload string) string {
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestClaims(t *testing.T) {
	var c struct {
		Nonce string `json:"nonce"`
	}
	if err := Claims(jwt(`{"nonce":"n-1","exp":1700000000}`), &c); err != nil || c.Nonce != "n-1" {
		t.Fatalf("Claims = %+v, %v", c, err)
	}
	padded := "eyJhbGciOiJub25lIn0." + base64.URLEncoding.EncodeToString([]byte(`{"nonce":"padded!"}`)) + ".c2ln"
	if err := Claims(padded, &c); err != nil || c.Nonce != "padded!" {
		t.Fatalf("padded: %+v, %v", c, err)
	}
	for _, bad := range []string{"", "opaque-token", "a.b", "a.b.c.d", ".e30.", "a.!!!.c", jwt(`[1`), jwt(`"s"`)} {
		var m map[string]any
		if err := Claims(bad, &m); !errors.Is(err, ErrNotJWT) {
			t.Errorf("Claims(%q) = %v, want ErrNotJWT", bad, err)
		}
	}
}

func TestExpiry(t *testing.T) {
	if exp, ok := Expiry(jwt(`{"exp":1700000000.5}`)); !ok || !exp.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("Expiry = %v, %v", exp, ok)
	}
	for _, tok := range []string{jwt(`{}`), jwt(`{"exp":"soon"}`), "opaque"} {
		if exp, ok := Expiry(tok); ok {
			t.Errorf("Expiry(%q) = %v, want none", tok, exp)
		}
	}
}
