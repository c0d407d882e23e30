package msalcache

import (
	"context"
	"encoding/json"
	"strings"
)

// AccessToken is what a filter sees of a cached access token.
type AccessToken struct {
	HomeAccountID string // empty for app-only tokens
	Environment   string
	Realm         string // the tenant
	ClientID      string
	Target        string // space-separated scopes
}

type dropKey struct{}

// WithoutAccessTokens returns a context under which Replace hides from MSAL
// the cached access tokens of clientID that cover every one of scopes, so
// that MSAL acquires a new one (from a refresh token or the credential)
// and saves it over the old. Flows use it to honour
// TokenRequest.ForceRefresh; refresh tokens and accounts stay visible.
func WithoutAccessTokens(ctx context.Context, clientID string, scopes []string) context.Context {
	return context.WithValue(ctx, dropKey{}, func(at AccessToken) bool {
		if !strings.EqualFold(at.ClientID, clientID) {
			return false
		}
		have := map[string]bool{}
		for _, s := range strings.Fields(at.Target) {
			have[strings.ToLower(s)] = true
		}
		for _, s := range scopes {
			if s = strings.TrimSpace(s); s != "" && !have[strings.ToLower(s)] {
				return false
			}
		}
		return true
	})
}

func dropFrom(ctx context.Context) func(AccessToken) bool {
	f, _ := ctx.Value(dropKey{}).(func(AccessToken) bool)
	return f
}

// dropAccessTokens removes the AccessToken entries drop selects; the rest
// of the blob is kept byte for byte.
func dropAccessTokens(data []byte, drop func(AccessToken) bool) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	raw, ok := top["AccessToken"]
	if !ok {
		return data, nil
	}
	var ats map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ats); err != nil {
		return nil, err
	}
	changed := false
	for id, entry := range ats {
		var at struct {
			HomeAccountID string `json:"home_account_id"`
			Environment   string `json:"environment"`
			Realm         string `json:"realm"`
			ClientID      string `json:"client_id"`
			Target        string `json:"target"`
		}
		if json.Unmarshal(entry, &at) != nil {
			continue
		}
		if drop(AccessToken(at)) {
			delete(ats, id)
			changed = true
		}
	}
	if !changed {
		return data, nil
	}
	b, err := json.Marshal(ats)
	if err != nil {
		return nil, err
	}
	top["AccessToken"] = b
	return json.Marshal(top)
}
