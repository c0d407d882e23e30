package msalcache

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/credhost/credhost/core"
)

// capAccessTokens shortens every cached access token to at most
// core.MaxTokenLifetime after it was cached (cached_at, else now), so
// that MSAL does not answer for years with a token whose expires_in said
// years: the host caps what it keeps, and this caps what the plugin's
// MSAL cache serves when the host asks again. The rest of the blob is
// kept byte for byte; a blob that is not MSAL cache JSON is returned as
// it is (Replace deals with it).
func capAccessTokens(data []byte, now time.Time) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return data
	}
	var ats map[string]map[string]json.RawMessage
	if raw, ok := top["AccessToken"]; !ok || json.Unmarshal(raw, &ats) != nil {
		return data
	}
	changed := false
	for _, at := range ats {
		base, ok := unixField(at, "cached_at")
		if !ok {
			base = now.Unix()
		}
		limit := base + int64(core.MaxTokenLifetime/time.Second)
		for _, f := range []string{"expires_on", "extended_expires_on", "refresh_on"} {
			if v, ok := unixField(at, f); ok && v > limit {
				at[f] = json.RawMessage(strconv.Quote(strconv.FormatInt(limit, 10)))
				changed = true
			}
		}
	}
	if !changed {
		return data
	}
	b, err := json.Marshal(ats)
	if err != nil {
		return data
	}
	top["AccessToken"] = b
	out, err := json.Marshal(top)
	if err != nil {
		return data
	}
	return out
}

// unixField reads one of MSAL's times: Unix seconds in a JSON string.
func unixField(m map[string]json.RawMessage, name string) (int64, bool) {
	var s string
	if raw, ok := m[name]; !ok || json.Unmarshal(raw, &s) != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}
