// Package memory is the in-process token store backend: nothing
// persists, every process starts cold. For embedders that keep one long
// process (a web app with its own farm cache in front) and for tests.
// Importing the package registers it as backend = "memory".
package memory

import (
	"context"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
)

// Name is the backend's name in [cache] backend.
const Name = "memory"

// Settings are [cache.memory]'s: none.
type Settings struct{}

func init() {
	store.Register(store.Backend[Settings]{Name: Name, Open: func(context.Context, Settings, store.OpenOptions) (store.Opened, error) {
		return store.Opened{Store: &core.MemoryCache{}, Location: "memory (nothing persists)"}, nil
	}})
}
