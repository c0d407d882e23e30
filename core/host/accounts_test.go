package host

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/credhost/credhost/core"
)

// TestSignInsReadRecordsOnly: accounts come from the records flows save
// beside their state, never from the state itself; state without a record
// (an older flow), a record of nobody and a record that does not parse are
// not listed.
func TestSignInsReadRecordsOnly(t *testing.T) {
	ctx := context.Background()
	store := &core.MemoryCache{}
	put := func(key, data string) {
		t.Helper()
		if _, err := store.Save(ctx, key, core.Blob{Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	// An MSAL blob with an account but no record: not listed.
	put("state|old|devicecode|https://login.example/t|c|", `{"Account":{"a":{"home_account_id":"h0","username":"old@example.com"}},"RefreshToken":{"r":{}}}`)
	put("state|p|devicecode|https://login.example/t|c|", `not MSAL at all`)
	put("state|p|devicecode|https://login.example/t|c|#signin", `{"accounts":[{"HomeAccountID":"h1","Username":"ann@example.com","TenantID":"t"}],"can_refresh":true}`)
	put("state|p|authcode|https://login.example/t|c|#signin", `{"accounts":[],"can_refresh":false}`)
	put("state|q|ropc|https://login.example/t|c|#signin", `{"accounts":`)
	h := New(nil, &Options{Store: store})

	got, err := h.SignIns(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := SignIn{Profile: "p", Flow: "devicecode", Accounts: []core.Account{{HomeAccountID: "h1", Username: "ann@example.com", TenantID: "t"}}, CanRefresh: true}
	if len(got) != 1 || got[0].Profile != want.Profile || got[0].Flow != want.Flow || !got[0].CanRefresh ||
		len(got[0].Accounts) != 1 || got[0].Accounts[0] != want.Accounts[0] {
		t.Fatalf("SignIns = %+v, want [%+v]", got, want)
	}
	if got, err := h.SignIns(ctx, "old"); err != nil || len(got) != 0 {
		t.Fatalf("SignIns(old) = %+v, %v: state without a record was listed", got, err)
	}
}

// TestHostLinksNoFlowState: the host must not know the format of a
// flow's state (MSAL's cache), so core/host does not import
// internal/msalcache, directly or not.
func TestHostLinksNoFlowState(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/credhost/credhost/core/host").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "github.com/credhost/credhost/internal/msalcache" {
			t.Fatal("core/host depends on internal/msalcache")
		}
	}
}
