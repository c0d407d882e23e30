// Package memstore is a token store backend in a test fixture: the whole
// of a backend is its settings struct and one registration. Importing it
// makes [cache] backend = "memstore" open it.
package memstore

import (
	"context"
	"sync"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
)

// Settings are the [cache.memstore] table's.
type Settings struct {
	// Name picks the store: every open of a name in this process gets
	// the same one, so a test can look at what the host saved.
	Name string `toml:"name" store:"required,project"`
}

var stores sync.Map // name → *core.MemoryCache

func init() {
	store.Register(store.Backend[Settings]{Name: "memstore", Open: func(_ context.Context, s Settings, _ store.OpenOptions) (store.Opened, error) {
		return store.Opened{Store: Get(s.Name), Location: "memstore " + s.Name}, nil
	}})
}

// Get returns the store of name.
func Get(name string) *core.MemoryCache {
	st, _ := stores.LoadOrStore(name, &core.MemoryCache{})
	return st.(*core.MemoryCache)
}
