package host

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/credhost/credhost/core"
)

// SignIn is the sign-in state a flow keeps for a profile, as the flow
// recorded it (core.SignInRecord): the accounts in its state, and whether
// it can sign in silently.
type SignIn struct {
	Profile, Flow string
	Accounts      []core.Account
	CanRefresh    bool
}

// SignIns lists the flows' saved sign-ins of profile (every profile if
// ""), in key order. It reads the sign-in records flows save beside their
// state (never the state itself, which is the flow's own format); no
// plugin starts and no token is returned. State saved without a record
// (by a flow built before records) is not listed until the flow saves
// again.
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
		// state|<profile>|<flow>|<authority>|<client>|<sub-key>#signin
		parts := strings.SplitN(strings.TrimPrefix(k, StateKeyPrefix), "|", 3)
		if len(parts) < 3 || !strings.HasSuffix(k, core.SignInSuffix) {
			continue
		}
		b, err := h.opts.Store.Load(ctx, k)
		if err != nil {
			return nil, err
		}
		var rec core.SignInRecord
		if json.Unmarshal(b.Data, &rec) != nil {
			continue // a plugin wrote it: a bad one must not hide the others
		}
		if len(rec.Accounts) == 0 && !rec.CanRefresh {
			continue // nobody is signed in any more
		}
		out = append(out, SignIn{Profile: parts[0], Flow: parts[1], Accounts: rec.Accounts, CanRefresh: rec.CanRefresh})
	}
	return out, nil
}
