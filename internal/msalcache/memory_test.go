package msalcache

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/credhost/credhost/core"
)

// TestTrimInMemory: without a store, MSAL's memory is left alone until
// trimEvery saves have passed; the next Replace then drops expired access
// tokens, caps overlong ones and keeps the most recently cached, and
// leaves the other sections alone.
func TestTrimInMemory(t *testing.T) {
	now := time.Now().Unix()
	at := func(id string, cachedAt, expiresOn int64) string {
		return fmt.Sprintf(`%q:{"client_id":"c","target":"api://%s/.default","cached_at":"%d","expires_on":"%d","secret":%q}`,
			id, id, cachedAt, expiresOn, id)
	}
	blob := `{"AccessToken":{` + strings.Join([]string{
		at("expired", now-7200, now-3600),
		at("oldest", now-300, now+3000),
		at("middle", now-200, now+3000),
		at("ten-year", now-100, now+10*365*86400),
		at("newest", now-10, now+3000),
	}, ",") + `},"RefreshToken":{"rt":{"secret":"r"}},"Extra":true}`

	a := New(nil, "", nil)
	a.trimEvery, a.maxMemory = 2, 3
	m := &fakeMSAL{}
	m.set(blob)
	step := func(export bool) {
		t.Helper()
		if export {
			if err := a.Export(ctx, m, cache.ExportHints{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Replace(ctx, m, cache.ReplaceHints{}); err != nil {
			t.Fatal(err)
		}
	}
	step(true)
	if m.get() != blob {
		t.Fatalf("trimmed before %d saves: %s", a.trimEvery, m.get())
	}
	step(true)
	got := section(t, []byte(m.get()), "AccessToken")
	if fmt.Sprint(got) != "map[middle:middle newest:newest ten-year:ten-year]" {
		t.Errorf("after the trim: access tokens %v, want middle, newest and ten-year", got)
	}
	if !strings.Contains(m.get(), fmt.Sprintf(`"expires_on":"%d"`, now-100+int64(core.MaxTokenLifetime/time.Second))) {
		t.Errorf("the ten-year token was not capped: %s", m.get())
	}
	if rt := section(t, []byte(m.get()), "RefreshToken"); rt["rt"] != "r" || !strings.Contains(m.get(), `"Extra":true`) {
		t.Errorf("the trim lost other sections: %s", m.get())
	}

	// Trim asks for one at the next Replace, without waiting for saves.
	m.set(blob)
	a.Trim()
	step(false)
	if got := section(t, []byte(m.get()), "AccessToken"); len(got) != 3 {
		t.Errorf("after Trim: %d access tokens, want 3", len(got))
	}
	step(false)
	m.set(blob)
	step(false)
	if m.get() != blob {
		t.Error("a trim ran twice for one request")
	}
}
