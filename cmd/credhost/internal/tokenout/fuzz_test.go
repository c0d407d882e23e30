package tokenout

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// FuzzDecodeClaims: `credhost token --claims` decodes whatever the IdP
// returned as an access token; any string is either pretty JSON or an
// error, never a panic.
func FuzzDecodeClaims(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{
		enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"aud":"api://x","exp":1700000000,"roles":["a"]}`)) + ".sig",
		"a.b.c", "..", "opaque-token", enc([]byte(`{}`)) + "." + enc([]byte(`[1,2]`)) + ".", "x." + enc([]byte("\xff")) + ".y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, jwt string) {
		out, err := decodeClaims(jwt)
		if err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(out, &m) != nil {
			t.Fatalf("decodeClaims(%q) printed what is not a JSON object: %q", jwt, out)
		}
	})
}
