package config

// The config loader checks [cache] against the registered backends; a
// program registers them by importing them, and so do these tests (with
// the test fixture's backend, whose name a project file may set).
import (
	_ "github.com/credhost/credhost/core/store/stores"
	_ "github.com/credhost/credhost/internal/testkit/memstore"
)
