package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core/host"
)

// cacheCmd describes the token store: backend, location, what it holds
// and when it expires. It never prints a token or a key.
type cacheCmd struct {
	output string
}

func (c *cacheCmd) flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.output, "output", "o", "table", "output: table or json")
}

func (c *cacheCmd) validate(*globals) error { return validateListOutput(c.output) }

// cacheInfo is `cache info --output json`.
type cacheInfo struct {
	Backend     string    `json:"backend"`
	Location    string    `json:"location"`
	Entries     int       `json:"entries"`
	Tokens      int       `json:"access_tokens"`
	Expired     int       `json:"expired_tokens"`
	FlowStates  int       `json:"flow_states"`
	NextExpiry  time.Time `json:"next_expiry,omitzero"`
	LastExpiry  time.Time `json:"last_expiry,omitzero"`
	MinLifetime string    `json:"min_lifetime"`
}

func (c *cacheCmd) run(ctx context.Context, g *globals, e *env, args []string) error {
	if len(args) != 1 || args[0] != "info" {
		return usageError{errors.New("say info: credhost cache info")}
	}
	s, err := openStoreSession(ctx, g, e, false)
	if err != nil {
		return err
	}
	defer s.Close()
	keys, err := s.Store.Keys(ctx, "")
	if err != nil {
		return err
	}
	info := cacheInfo{Backend: s.Store.Backend, Location: s.Store.Location, Entries: len(keys), MinLifetime: s.File.Cache.MinLifetime.String()}
	for _, k := range keys {
		if strings.HasPrefix(k, host.StateKeyPrefix) {
			info.FlowStates++
		}
	}
	tokens, err := s.Host.Tokens(ctx, s.Profile)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, t := range tokens {
		info.Tokens++
		if !t.ExpiresOn.After(now) {
			info.Expired++
			continue
		}
		if info.NextExpiry.IsZero() || t.ExpiresOn.Before(info.NextExpiry) {
			info.NextExpiry = t.ExpiresOn.UTC()
		}
		if t.ExpiresOn.After(info.LastExpiry) {
			info.LastExpiry = t.ExpiresOn.UTC()
		}
	}
	if c.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	fmt.Fprintf(e.stdout, "backend:        %s\nlocation:       %s\nentries:        %d (%d access tokens, %d expired; %d flow states)\nnext expiry:    %s\nlast expiry:    %s\nmin lifetime:   %s (a cached token with less left is renewed)\n",
		info.Backend, info.Location, info.Entries, info.Tokens, info.Expired, info.FlowStates, expiry(info.NextExpiry), expiry(info.LastExpiry), info.MinLifetime)
	return nil
}
