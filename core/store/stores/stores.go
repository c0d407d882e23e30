// Package stores links the built-in token store backends (file, redis,
// memory): importing it registers them. A program that wants fewer
// imports the backends it wants instead; one that wants its own adds
// its backend's import beside this one.
package stores

import (
	// Each registers itself in init.
	_ "github.com/credhost/credhost/core/store/file"
	_ "github.com/credhost/credhost/core/store/memory"
	_ "github.com/credhost/credhost/core/store/redis"
)
