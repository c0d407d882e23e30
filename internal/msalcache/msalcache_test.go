package msalcache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// fakeStore is an in-memory core.Cache: a map of blobs with versions. The
// beforeSave hook runs (unlocked) before each Save, to stage conflicts.
type fakeStore struct {
	mu         sync.Mutex
	m          map[string]core.Blob
	loads      int
	saves      int
	beforeSave func()
	loadErr    error
}

func (s *fakeStore) Load(_ context.Context, key string) (core.Blob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if s.loadErr != nil {
		return core.Blob{}, s.loadErr
	}
	b := s.m[key]
	return core.Blob{Data: append([]byte(nil), b.Data...), Version: b.Version}, nil
}

func (s *fakeStore) Save(_ context.Context, key string, b core.Blob) (uint64, error) {
	if s.beforeSave != nil {
		s.beforeSave()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	if s.m == nil {
		s.m = map[string]core.Blob{}
	}
	if s.m[key].Version != b.Version {
		return 0, core.ErrCacheConflict
	}
	s.m[key] = core.Blob{Data: append([]byte(nil), b.Data...), Version: b.Version + 1}
	return b.Version + 1, nil
}

// put stores data directly, bumping the version as another process would.
func (s *fakeStore) put(key, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]core.Blob{}
	}
	s.m[key] = core.Blob{Data: []byte(data), Version: s.m[key].Version + 1}
}

func (s *fakeStore) get(key string) core.Blob {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

// fakeMSAL stands in for MSAL's cache manager: it holds the bytes it was
// given and marshals what the test sets.
type fakeMSAL struct {
	mu   sync.Mutex
	data []byte
	fail bool
}

func (f *fakeMSAL) Unmarshal(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	f.data = append([]byte(nil), b...)
	return nil
}

func (f *fakeMSAL) Marshal() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.data...), nil
}

func (f *fakeMSAL) set(s string) { f.mu.Lock(); f.data = []byte(s); f.mu.Unlock() }
func (f *fakeMSAL) get() string  { f.mu.Lock(); defer f.mu.Unlock(); return string(f.data) }

// section returns the ids in one section of a cache blob.
func section(t *testing.T, blob []byte, name string) map[string]string {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(blob, &top); err != nil {
		t.Fatalf("blob is not JSON: %v: %s", err, blob)
	}
	out := map[string]string{}
	if raw, ok := top[name]; ok {
		var m map[string]struct {
			Secret string `json:"secret"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("section %s: %v", name, err)
		}
		for k, v := range m {
			out[k] = v.Secret
		}
	}
	return out
}

var ctx = context.Background()

func TestReplaceExport(t *testing.T) {
	store := &fakeStore{}
	a := New(store, "k", nil)
	m := &fakeMSAL{}

	// Absent blob: MSAL starts empty.
	m.set(`{"AccessToken":{"stale":{}}}`)
	if err := a.Replace(ctx, m, cache.ReplaceHints{}); err != nil {
		t.Fatal(err)
	}
	if m.get() != "{}" {
		t.Fatalf("after Replace of absent blob MSAL holds %s", m.get())
	}

	// Two exports in a row: the second saves against the version of the first.
	for i := 1; i <= 2; i++ {
		m.set(fmt.Sprintf(`{"AccessToken":{"at%d":{"secret":"s%d"}}}`, i, i))
		if err := a.Export(ctx, m, cache.ExportHints{}); err != nil {
			t.Fatalf("export %d: %v", i, err)
		}
		if v := store.get("k").Version; v != uint64(i) {
			t.Fatalf("version after export %d = %d", i, v)
		}
	}

	// Replace loads the stored blob.
	store.put("k", `{"AccessToken":{"other":{"secret":"x"}}}`)
	if err := a.Replace(ctx, m, cache.ReplaceHints{}); err != nil {
		t.Fatal(err)
	}
	if got := section(t, []byte(m.get()), "AccessToken"); got["other"] != "x" || len(got) != 1 {
		t.Fatalf("after Replace MSAL holds %s", m.get())
	}
	if a.version != 3 {
		t.Fatalf("remembered version = %d, want 3", a.version)
	}
}

func TestExportConflictMerges(t *testing.T) {
	store := &fakeStore{}
	store.put("", `{"AccessToken":{"shared":{"secret":"old"}},"Account":{"acct":{"secret":"a"}},"Future":{"x":1}}`)

	// Two processes load the same version...
	a, b := New(store, "", nil), New(store, "", nil)
	ma, mb := &fakeMSAL{}, &fakeMSAL{}
	for _, p := range []struct {
		ad *Adapter
		m  *fakeMSAL
	}{{a, ma}, {b, mb}} {
		if err := p.ad.Replace(ctx, p.m, cache.ReplaceHints{}); err != nil {
			t.Fatal(err)
		}
	}
	// ...A saves first...
	ma.set(`{"AccessToken":{"shared":{"secret":"from-a"},"a-only":{"secret":"a"}},"Account":{"acct":{"secret":"a"}},"Future":{"x":1}}`)
	if err := a.Export(ctx, ma, cache.ExportHints{}); err != nil {
		t.Fatal(err)
	}
	// ...then B, whose save conflicts and is merged, B winning on "shared".
	mb.set(`{"AccessToken":{"shared":{"secret":"from-b"},"b-only":{"secret":"b"}},"RefreshToken":{"rt":{"secret":"r"}},"Account":{"acct":{"secret":"a"}}}`)
	savesBefore := store.saves
	if err := b.Export(ctx, mb, cache.ExportHints{}); err != nil {
		t.Fatal(err)
	}
	if n := store.saves - savesBefore; n != 2 {
		t.Errorf("B saved %d times, want 2 (conflict, then merged)", n)
	}
	got := store.get("")
	if got.Version != 3 {
		t.Errorf("version = %d, want 3", got.Version)
	}
	at := section(t, got.Data, "AccessToken")
	want := map[string]string{"shared": "from-b", "a-only": "a", "b-only": "b"}
	if fmt.Sprint(at) != fmt.Sprint(want) {
		t.Errorf("AccessToken = %v, want %v", at, want)
	}
	if rt := section(t, got.Data, "RefreshToken"); rt["rt"] != "r" {
		t.Errorf("RefreshToken = %v", rt)
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(got.Data, &top)
	if string(top["Future"]) != `{"x":1}` {
		t.Errorf("unknown top-level field lost: %s", got.Data)
	}
	if b.version != 3 {
		t.Errorf("B remembers version %d, want 3", b.version)
	}
}

func TestExportGivesUp(t *testing.T) {
	store := &fakeStore{}
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	a := New(store, "", &Options{MaxRetries: 2, Logger: &log})
	m := &fakeMSAL{}
	if err := a.Replace(ctx, m, cache.ReplaceHints{}); err != nil {
		t.Fatal(err)
	}
	// Another writer gets in before every save.
	store.beforeSave = func() { store.put("", `{}`) }
	m.set(`{"AccessToken":{"x":{"secret":"canary-at"}}}`)
	if err := a.Export(ctx, m, cache.ExportHints{}); err != nil {
		t.Fatalf("Export() error = %v, want nil (best effort)", err)
	}
	if store.saves != 3 {
		t.Errorf("saves = %d, want 3 (1 + MaxRetries)", store.saves)
	}
	if !strings.Contains(logs.String(), "lost 3 races") || strings.Contains(logs.String(), "canary-at") {
		t.Errorf("log = %s", logs.String())
	}

	// A canceled call returns the context error.
	c, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Export(c, m, cache.ExportHints{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Export(canceled) = %v", err)
	}
}

func TestReplaceCorruptAndErrors(t *testing.T) {
	store := &fakeStore{}
	store.put("", "not json")
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	a := New(store, "", &Options{Logger: &log})
	m := &fakeMSAL{}
	m.set(`{"AccessToken":{"x":{}}}`)
	if err := a.Replace(ctx, m, cache.ReplaceHints{}); err != nil {
		t.Fatalf("Replace(corrupt) = %v, want nil", err)
	}
	if m.get() != "{}" {
		t.Errorf("MSAL holds %s after a corrupt blob, want {}", m.get())
	}
	if !strings.Contains(logs.String(), "not MSAL cache JSON") {
		t.Errorf("no warning logged: %s", logs.String())
	}
	// The next export overwrites the corrupt blob (same version).
	m.set(`{"AccessToken":{"y":{}}}`)
	if err := a.Export(ctx, m, cache.ExportHints{}); err != nil {
		t.Fatal(err)
	}
	if got := store.get(""); string(got.Data) != `{"AccessToken":{"y":{}}}` || got.Version != 2 {
		t.Errorf("stored %s v%d", got.Data, got.Version)
	}

	// A store that cannot be read leaves MSAL's memory as it is.
	store.loadErr = errors.New("store down")
	if err := a.Replace(ctx, m, cache.ReplaceHints{}); err != nil {
		t.Errorf("Replace(store down) = %v, want nil", err)
	}
	if m.get() != `{"AccessToken":{"y":{}}}` {
		t.Errorf("MSAL memory changed: %s", m.get())
	}
	if !strings.Contains(logs.String(), "store down") {
		t.Errorf("no warning logged: %s", logs.String())
	}
	c, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Replace(c, m, cache.ReplaceHints{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Replace(canceled, store down) = %v, want context.Canceled", err)
	}
}

func TestWithStore(t *testing.T) {
	own, perCall := &fakeStore{}, &fakeStore{}
	a := New(own, "", nil)
	m := &fakeMSAL{}
	m.set(`{"AccessToken":{"x":{}}}`)
	c := WithStore(ctx, perCall)
	if err := a.Replace(c, m, cache.ReplaceHints{}); err != nil {
		t.Fatal(err)
	}
	m.set(`{"AccessToken":{"x":{}}}`)
	if err := a.Export(c, m, cache.ExportHints{}); err != nil {
		t.Fatal(err)
	}
	if own.loads+own.saves != 0 || perCall.loads != 1 || perCall.saves != 1 {
		t.Errorf("own %d/%d, per call %d/%d loads/saves", own.loads, own.saves, perCall.loads, perCall.saves)
	}
	if WithStore(ctx, nil) != ctx {
		t.Error("WithStore(nil) changed the context")
	}
}

func TestNoStoreKeepsMemory(t *testing.T) {
	a := New(nil, "", nil)
	m := &fakeMSAL{}
	const blob = `{"AccessToken":{"keep":{"client_id":"c","target":"https://r/.default"},"drop":{"client_id":"c","target":"https://other/.default"}}}`
	m.set(blob)
	if err := a.Replace(ctx, m, cache.ReplaceHints{}); err != nil {
		t.Fatal(err)
	}
	if err := a.Export(ctx, m, cache.ExportHints{}); err != nil {
		t.Fatal(err)
	}
	if m.get() != blob {
		t.Fatalf("without a store MSAL's memory changed: %s", m.get())
	}
	// A force refresh still hides the matching access token.
	if err := a.Replace(WithoutAccessTokens(ctx, "C", []string{"https://other/.default"}), m, cache.ReplaceHints{}); err != nil {
		t.Fatal(err)
	}
	at := section(t, []byte(m.get()), "AccessToken")
	if _, ok := at["keep"]; !ok || len(at) != 1 {
		t.Fatalf("after force refresh: %s", m.get())
	}
}

func TestWithoutAccessTokens(t *testing.T) {
	const blob = `{
	 "AccessToken":{
	  "app-graph":{"client_id":"cid","realm":"t1","target":"https://graph.microsoft.com/.default","secret":"1"},
	  "app-graph-t2":{"client_id":"cid","realm":"t2","target":"https://Graph.microsoft.com/.default","secret":"2"},
	  "app-vault":{"client_id":"cid","realm":"t1","target":"https://vault.azure.net/.default","secret":"3"},
	  "other-client":{"client_id":"other","realm":"t1","target":"https://graph.microsoft.com/.default","secret":"4"},
	  "user-multi":{"client_id":"cid","home_account_id":"u.t","target":"User.Read Mail.Read openid","secret":"5"}
	 },
	 "RefreshToken":{"rt":{"secret":"r"}},
	 "Extra":true}`
	tests := []struct {
		name   string
		scopes []string
		want   string // remaining AT ids, sorted
	}{
		{name: "app scope in every tenant", scopes: []string{"https://graph.microsoft.com/.default"}, want: "map[app-vault:3 other-client:4 user-multi:5]"},
		{name: "subset of a user token's scopes", scopes: []string{"mail.read"}, want: "map[app-graph:1 app-graph-t2:2 app-vault:3 other-client:4]"},
		{name: "no match", scopes: []string{"https://storage.azure.com/.default"}, want: "map[app-graph:1 app-graph-t2:2 app-vault:3 other-client:4 user-multi:5]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{}
			store.put("", blob)
			a := New(store, "", nil)
			m := &fakeMSAL{}
			if err := a.Replace(WithoutAccessTokens(ctx, "cid", tt.scopes), m, cache.ReplaceHints{}); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(section(t, []byte(m.get()), "AccessToken")); got != tt.want {
				t.Errorf("remaining = %s, want %s", got, tt.want)
			}
			if rt := section(t, []byte(m.get()), "RefreshToken"); rt["rt"] != "r" {
				t.Error("refresh token dropped")
			}
			if string(store.get("").Data) != blob {
				t.Error("Replace changed the stored blob")
			}
		})
	}
}

// TestConcurrentWriters runs many adapters (processes) and many calls per
// adapter at once; every entry written must survive.
func TestConcurrentWriters(t *testing.T) {
	store := &fakeStore{}
	const adapters, calls = 4, 8
	var wg sync.WaitGroup
	for i := 0; i < adapters; i++ {
		a := New(store, "", &Options{MaxRetries: 100})
		m := &fakeMSAL{}
		var mu sync.Mutex // MSAL's own lock around Replace+Write+Export
		for j := 0; j < calls; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err := a.Replace(ctx, m, cache.ReplaceHints{}); err != nil {
					t.Error(err)
					return
				}
				var top map[string]map[string]json.RawMessage
				_ = json.Unmarshal([]byte(m.get()), &top)
				if top == nil {
					top = map[string]map[string]json.RawMessage{}
				}
				if top["AccessToken"] == nil {
					top["AccessToken"] = map[string]json.RawMessage{}
				}
				top["AccessToken"][fmt.Sprintf("a%d-c%d", i, j)] = json.RawMessage(`{}`)
				b, _ := json.Marshal(top)
				m.set(string(b))
				if err := a.Export(ctx, m, cache.ExportHints{}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if n := len(section(t, store.get("").Data, "AccessToken")); n != adapters*calls {
		t.Errorf("%d entries survived, want %d", n, adapters*calls)
	}
}

// conditionalStore answers LoadIfChanged like the host's Cache service.
type conditionalStore struct {
	fakeStore
	unchanged int
}

func (s *conditionalStore) LoadIfChanged(ctx context.Context, key string, known uint64) (core.Blob, bool, error) {
	b, err := s.Load(ctx, key)
	if err != nil || b.Version != known {
		return b, true, err
	}
	s.mu.Lock()
	s.unchanged++
	s.mu.Unlock()
	return core.Blob{}, false, nil
}

func TestReplaceSkipsUnchangedBlob(t *testing.T) {
	ctx := context.Background()
	store := &conditionalStore{}
	store.put("k", `{"AccessToken":{"a":{}}}`)
	a := New(store, "k", nil)
	msal := &fakeMSAL{}
	if err := a.Replace(ctx, msal, cache.ReplaceHints{}); err != nil || msal.get() != `{"AccessToken":{"a":{}}}` {
		t.Fatalf("first Replace: %v, msal %q", err, msal.get())
	}
	// MSAL's copy is current: the second Replace must not reload it.
	msal.set(`{"sentinel":1}`)
	if err := a.Replace(ctx, msal, cache.ReplaceHints{}); err != nil || msal.get() != `{"sentinel":1}` || store.unchanged != 1 {
		t.Fatalf("unchanged Replace touched MSAL: %v, msal %q, unchanged %d", err, msal.get(), store.unchanged)
	}
	// Another process wrote: the blob comes again.
	store.put("k", `{"AccessToken":{"b":{}}}`)
	if err := a.Replace(ctx, msal, cache.ReplaceHints{}); err != nil || msal.get() != `{"AccessToken":{"b":{}}}` {
		t.Fatalf("changed Replace: %v, msal %q", err, msal.get())
	}
}
