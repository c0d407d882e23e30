package publicclient

import (
	"context"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/msalcache"
)

// CanRefresh reports whether the flow's cache partition holds a refresh
// token, so that it can sign in without the user. It reads the host cache
// only: no network.
func CanRefresh(ctx context.Context, cache core.Cache) bool {
	if cache == nil {
		return false
	}
	b, err := cache.Load(ctx, cacheKey)
	if err != nil {
		return false
	}
	_, ok := msalcache.Accounts(b.Data)
	return ok
}
