package plugin

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	pluginv1 "github.com/credhost/credhost/core/proto/credhost/plugin/v1"
)

// bigCacheFlow saves a flow cache entry of the size its scope names and
// reads it back through the host's Cache service.
type bigCacheFlow struct{ size int }

func (f *bigCacheFlow) Describe() core.Description {
	return core.Description{Name: "big", Version: "1.0.0"}
}

func (f *bigCacheFlow) Configure(context.Context, core.FlowConfig) error { return nil }

func (f *bigCacheFlow) GetToken(ctx context.Context, _ core.TokenRequest, host core.Services) (core.Token, error) {
	data := bytes.Repeat([]byte("m"), f.size)
	if _, err := host.Cache.Save(ctx, "msal", core.Blob{Data: data}); err != nil {
		return core.Token{}, err
	}
	b, err := host.Cache.Load(ctx, "msal")
	if err != nil {
		return core.Token{}, err
	}
	if !bytes.Equal(b.Data, data) {
		return core.Token{}, core.Unavailable("big", "read back a different entry")
	}
	return core.Token{AccessToken: core.NewSecret("at"), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestFlowCacheMessageLimits: a 5 MiB flow cache (MSAL caches of many
// accounts grow so) is saved and loaded over real gRPC, where gRPC's
// 4 MiB default refused it; an entry over the 16 MiB limit is a clear
// error naming the limit, from either side.
func TestFlowCacheMessageLimits(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		size int
		want string
	}{
		{size: 5 << 20},
		{size: 15 << 20},
		{size: maxBlob + 1, want: `flow cache entry "msal" is 16777217 bytes, over the 16 MiB limit of the host's cache service`},
	} {
		flow := &bigCacheFlow{size: tc.size}
		c := TestConnect(t, flow, zerolog.Nop())
		if err := c.Configure(ctx, core.FlowConfig{}, &core.MemoryCache{}); err != nil {
			t.Fatal(err)
		}
		_, err := c.GetToken(ctx, core.TokenRequest{Scopes: []string{"s"}}, nil)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%d byte flow cache: %v", tc.size, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%d byte flow cache: %v, want %q", tc.size, err, tc.want)
		}
	}

	// The host refuses an oversize entry itself too (a plugin built
	// with another SDK may not check).
	srv := &cacheServer{store: &core.MemoryCache{}}
	if _, err := srv.Save(ctx, &pluginv1.SaveRequest{Key: "k", Data: make([]byte, maxBlob+1)}); err == nil || !strings.Contains(err.Error(), "over the 16 MiB limit") {
		t.Errorf("host Save of an oversize entry = %v", err)
	}
}
