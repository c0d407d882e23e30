package msalcache

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"
)

// Bounds on MSAL's in-memory cache when an Adapter has no store (a
// long-lived plugin, e.g. the agent's, whose tokens the host caches).
// MSAL never forgets an access token: each new resource or tenant adds
// one, expired ones stay, and every lookup scans them all. So after every
// trimEvery tokens saved the next Replace drops the expired ones and keeps
// the maxMemoryTokens most recently cached. The marshalling this costs is
// paid once per trimEvery token requests, not on every call.
const (
	trimEvery       = 64
	maxMemoryTokens = 512
)

// Trim asks for MSAL's in-memory cache to be trimmed at the next Replace
// of an Adapter without a store: expired access tokens dropped, the
// others capped at core.MaxTokenLifetime after they were cached (as
// Replace does to stored blobs), at most maxMemoryTokens kept. Flows call
// it when the IdP granted a token for longer than that cap, so that MSAL
// does not go on serving it; it is otherwise called every trimEvery saves.
func (a *Adapter) Trim() {
	a.mu.Lock()
	a.trimDue = true
	a.mu.Unlock()
}

// noteSave counts a save of an Adapter without a store and schedules a
// trim every trimEvery saves. a.mu is held.
func (a *Adapter) noteSave() {
	a.saves++
	if a.saves >= a.trimEvery {
		a.saves = 0
		a.trimDue = true
	}
}

// trimAccessTokens drops the access tokens that expired by now (after
// capping their lifetimes) and, of the others, keeps the max most recently
// cached. The rest of the blob is kept byte for byte.
func trimAccessTokens(data []byte, now time.Time, max int) ([]byte, error) {
	data = capAccessTokens(data, now)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	raw, ok := top["AccessToken"]
	if !ok {
		return data, nil
	}
	var ats map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ats); err != nil {
		return nil, err
	}
	type live struct {
		id       string
		cachedAt int64
	}
	var keep []live
	for id, at := range ats {
		// An entry without a readable expiry is MSAL's business: kept.
		if exp, ok := unixField(at, "expires_on"); ok && exp <= now.Unix() {
			delete(ats, id)
			continue
		}
		cachedAt, _ := unixField(at, "cached_at")
		keep = append(keep, live{id, cachedAt})
	}
	if len(keep) > max {
		slices.SortFunc(keep, func(x, y live) int { return cmp.Compare(y.cachedAt, x.cachedAt) })
		for _, l := range keep[max:] {
			delete(ats, l.id)
		}
	}
	b, err := json.Marshal(ats)
	if err != nil {
		return nil, err
	}
	top["AccessToken"] = b
	return json.Marshal(top)
}
