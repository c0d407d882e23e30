package host

import (
	"context"
	"strings"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/msalcache"
)

// SignIn is the sign-in state a flow keeps for a profile: the accounts in
// its MSAL cache, and whether a refresh token lets it sign in silently.
type SignIn struct {
	Profile, Flow string
	Accounts      []core.Account
	CanRefresh    bool
}

// SignIns lists the flows' saved sign-ins of profile (every profile if
// ""), in key order. It reads the state partitions the host keeps for the
// flows; no plugin starts and no token is returned.
func (h *Host) SignIns(ctx context.Context, profile string) ([]SignIn, error) {
	prefix := StateKeyPrefix
	if profile != "" {
		prefix += profile + "|"
	}
	keys, err := h.opts.Store.Keys(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []SignIn
	for _, k := range keys {
		// state|<profile>|<flow>|<authority>|<client>|<sub-key>
		parts := strings.SplitN(strings.TrimPrefix(k, StateKeyPrefix), "|", 3)
		if len(parts) < 3 {
			continue
		}
		b, err := h.opts.Store.Load(ctx, k)
		if err != nil {
			return nil, err
		}
		accounts, refresh := msalcache.Accounts(b.Data)
		if len(accounts) == 0 && !refresh {
			continue // app-only state (client credentials): nobody signed in
		}
		out = append(out, SignIn{Profile: parts[0], Flow: parts[1], Accounts: accounts, CanRefresh: refresh})
	}
	return out, nil
}
