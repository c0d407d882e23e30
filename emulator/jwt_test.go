package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

// FuzzParseJWT checks that hostile input never panics the parser or the
// verifier.
func FuzzParseJWT(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	good, err := signJWT(key, map[string]any{"kid": "k"}, map[string]any{"exp": 1, "aud": []string{"a", "b"}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", ".", "..", "a.b.c", "eyJ9.eyJ9.", "e30.e30.", "bnVsbA.bnVsbA.", good + "x",
		"eyJhbGciOiJQUzI1NiJ9.eyJleHAiOjFlOTk5fQ.AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := parseJWT(raw)
		if err != nil {
			return
		}
		_ = tok.verify(&key.PublicKey)
		_, _ = numericClaim(tok.claims, "exp")
		_ = audiences(tok.claims)
	})
}

func TestParseJWTRoundTrip(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signJWT(key, nil, map[string]any{"exp": 1700000000, "aud": []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := parseJWT(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.verify(&key.PublicKey); err != nil {
		t.Fatal(err)
	}
	if exp, ok := numericClaim(tok.claims, "exp"); !ok || exp != 1700000000 {
		t.Errorf("exp = %d %v", exp, ok)
	}
	if aud := audiences(tok.claims); len(aud) != 2 {
		t.Errorf("aud = %v", aud)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 1024)
	if tok.verify(&other.PublicKey) == nil {
		t.Error("verified with the wrong key")
	}
}
