package plugin

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// racingFlow adds an access token entry to its partition's default
// entry; before it saves, race (if set) lets another writer in.
type racingFlow struct{ race func() }

func (racingFlow) Describe() core.Description {
	return core.Description{Name: "racing", Version: "1.0.0"}
}
func (racingFlow) Configure(context.Context, core.FlowConfig) error { return nil }

func (f racingFlow) GetToken(ctx context.Context, req core.TokenRequest, host core.Services) (core.Token, error) {
	b, err := host.Cache.Load(ctx, "")
	if err != nil {
		return core.Token{}, err
	}
	c := map[string]map[string]any{}
	if len(b.Data) > 0 {
		if err := json.Unmarshal(b.Data, &c); err != nil {
			return core.Token{}, err
		}
	}
	if c["AccessToken"] == nil {
		c["AccessToken"] = map[string]any{}
	}
	c["AccessToken"][req.Scopes[0]] = "t"
	data, _ := json.Marshal(c)
	if f.race != nil {
		f.race()
	}
	if _, err := host.Cache.Save(ctx, "", core.Blob{Data: data, Version: b.Version}); err != nil {
		return core.Token{}, err
	}
	return core.Token{AccessToken: core.NewSecret("at"), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestStreamCacheUpdateMerges: protocol 3's cache update is stored by the
// host after the call; one that lost a race with another writer is merged
// with what that writer stored, neither side's entries lost.
func TestStreamCacheUpdateMerges(t *testing.T) {
	store := &core.MemoryCache{}
	ctx := context.Background()
	other := func() {
		b, _ := store.Load(ctx, "")
		if _, err := store.Save(ctx, "", core.Blob{Data: []byte(`{"AccessToken":{"theirs":"t"}}`), Version: b.Version}); err != nil {
			t.Error(err)
		}
	}
	c := TestConnect(t, racingFlow{race: other}, zerolog.Nop())
	if err := c.Configure(ctx, core.FlowConfig{}, store); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetToken(ctx, core.TokenRequest{Scopes: []string{"ours"}}, nil); err != nil {
		t.Fatal(err)
	}
	b, err := store.Load(ctx, "")
	var got map[string]map[string]string
	if err != nil || json.Unmarshal(b.Data, &got) != nil || got["AccessToken"]["ours"] != "t" || got["AccessToken"]["theirs"] != "t" {
		t.Fatalf("stored %s, %v; want both writers' entries", b.Data, err)
	}
}
