package config

// The config loader checks [cache] against the registered backends; a
// program registers them by importing them, and so do these tests.
import _ "github.com/credhost/credhost/core/store/stores"
