package msalcache

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/credhost/credhost/core"
)

// Accounts lists the accounts in an MSAL cache blob (its "Account"
// section, in the schema all MSAL libraries share), sorted by username,
// and whether the blob holds a refresh token for any of them (a silent
// sign-in is possible). It reads nothing else: no token leaves the blob.
// A blob that does not parse has no accounts.
func Accounts(blob []byte) (accounts []core.Account, canRefresh bool) {
	var c struct {
		Account map[string]struct {
			HomeAccountID string `json:"home_account_id"`
			Username      string `json:"username"`
			Realm         string `json:"realm"`
		} `json:"Account"`
		RefreshToken map[string]json.RawMessage `json:"RefreshToken"`
	}
	if json.Unmarshal(blob, &c) != nil {
		return nil, false
	}
	for _, a := range c.Account {
		accounts = append(accounts, core.Account{HomeAccountID: a.HomeAccountID, Username: a.Username, TenantID: a.Realm})
	}
	slices.SortFunc(accounts, func(a, b core.Account) int {
		return cmp.Or(strings.Compare(a.Username, b.Username), strings.Compare(a.HomeAccountID, b.HomeAccountID))
	})
	return accounts, len(c.RefreshToken) > 0
}
