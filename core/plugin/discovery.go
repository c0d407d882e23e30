package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/httpclient"
)

// The host keeps a flow's discovery answers (internal/httpclient's
// discovery.go says why) in its store, one JSON list per profile, flow
// and authority (the host picks the key), each for
// httpclient.DiscoveryMaxAge. They are not secret: public documents of
// the identity provider.

// loadDiscovery returns the answers kept in store that are still fresh;
// a store that fails or holds junk gives none (the plugin then asks the
// identity provider, as it would without them).
func loadDiscovery(ctx context.Context, store core.Cache, log zerolog.Logger) []httpclient.DiscoveryEntry {
	b, err := store.Load(ctx, "")
	if err != nil {
		log.Debug().Str("error", err.Error()).Msg("cannot read the kept discovery answers")
		return nil
	}
	entries, _ := decodeDiscovery(b.Data, time.Now())
	return entries
}

// keepDiscovered adds fetched answers to those kept in store, dropping
// stale ones. Best effort: a failure costs the next process a discovery
// request, no more.
func keepDiscovered(ctx context.Context, store core.Cache, fetched []httpclient.DiscoveryEntry, log zerolog.Logger) {
	for attempt := 0; attempt < 3; attempt++ {
		b, err := store.Load(ctx, "")
		if err != nil {
			break
		}
		now := time.Now()
		kept, _ := decodeDiscovery(b.Data, now)
		byURL := make(map[string]int, len(kept))
		for i, e := range kept {
			byURL[e.URL] = i
		}
		for _, e := range fetched {
			if i, ok := byURL[e.URL]; ok {
				kept[i] = e
			} else {
				byURL[e.URL] = len(kept)
				kept = append(kept, e)
			}
		}
		data, err := json.Marshal(kept)
		if err != nil {
			break
		}
		oldest := now
		for _, e := range kept {
			oldest = minTime(oldest, e.FetchedOn)
		}
		_, err = store.Save(ctx, "", core.Blob{Data: data, Version: b.Version, ExpiresOn: oldest.Add(httpclient.DiscoveryMaxAge)})
		if err == nil {
			return
		}
		if !isConflict(err) {
			log.Debug().Str("error", err.Error()).Msg("cannot keep the fetched discovery answers")
			return
		}
	}
}

func decodeDiscovery(data []byte, now time.Time) ([]httpclient.DiscoveryEntry, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var all []httpclient.DiscoveryEntry
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	fresh := all[:0]
	for _, e := range all {
		if age := now.Sub(e.FetchedOn); age >= 0 && age < httpclient.DiscoveryMaxAge {
			fresh = append(fresh, e)
		}
	}
	return fresh, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func isConflict(err error) bool { return errors.Is(err, core.ErrCacheConflict) }
