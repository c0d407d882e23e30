package msalcache

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/credhost/credhost/core"
)

const signedIn = `{"Account":{"h1-env-t":{"home_account_id":"h1","username":"bob@example.com","realm":"t"},"h2-env-t":{"home_account_id":"h2","username":"ann@example.com","realm":"t"}},"RefreshToken":{"r":{"secret":"x"}}}`

// TestRecordSignIn: the record lists the blob's accounts (by username)
// and its refresh token and never a secret; it is written only when it
// changes; a conflict makes it derive the record again.
func TestRecordSignIn(t *testing.T) {
	s := &fakeStore{}
	s.put("k", signedIn)
	ctx := WithStore(context.Background(), s)
	if err := RecordSignIn(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	var rec core.SignInRecord
	if err := json.Unmarshal(s.m["k"+core.SignInSuffix].Data, &rec); err != nil {
		t.Fatal(err)
	}
	if !rec.CanRefresh || len(rec.Accounts) != 2 || rec.Accounts[0] != (core.Account{HomeAccountID: "h2", Username: "ann@example.com", TenantID: "t"}) {
		t.Fatalf("record %+v", rec)
	}
	if strings.Contains(string(s.m["k"+core.SignInSuffix].Data), "secret") {
		t.Fatal("the record holds the refresh token")
	}

	saves := s.saves
	if err := RecordSignIn(ctx, "k"); err != nil || s.saves != saves {
		t.Fatalf("an unchanged record was saved again (%d → %d saves), %v", saves, s.saves, err)
	}

	// Another process signs out (its state and record change) while we
	// save: ours follows the newer state.
	s.put("k", `{"Account":{"h1-env-t":{"home_account_id":"h1","username":"bob@example.com","realm":"t"}}}`)
	first := true
	s.beforeSave = func() {
		if first {
			first = false
			s.put("k", `{}`)
			s.put("k"+core.SignInSuffix, `{"accounts":[],"can_refresh":false}`)
		}
	}
	if err := RecordSignIn(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := string(s.m["k"+core.SignInSuffix].Data); got != `{"accounts":[],"can_refresh":false}` {
		t.Fatalf("after a conflict the record is %s", got)
	}

	// Without a store there is nothing to record in.
	if err := RecordSignIn(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
}
