package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
	"github.com/credhost/credhost/internal/testkit/redistest"
)

func newKey(t *testing.T) core.Secret {
	t.Helper()
	k, err := store.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// open opens a Store on srv's URL, closed in t.Cleanup.
func open(t *testing.T, url string, opts *Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawClient talks to srv directly, to inspect and plant values.
func rawClient(t *testing.T, srv *redistest.Server) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func mustSave(t *testing.T, s *Store, key string, b core.Blob) uint64 {
	t.Helper()
	v, err := s.Save(context.Background(), key, b)
	if err != nil {
		t.Fatalf("Save(%q, version %d): %v", key, b.Version, err)
	}
	return v
}

func mustLoad(t *testing.T, s *Store, key string) core.Blob {
	t.Helper()
	b, err := s.Load(context.Background(), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv.URL(), &Options{Key: newKey(t)})
	future := time.Now().Add(time.Hour).Round(0)
	tests := []struct {
		name string
		key  string
		blob core.Blob
	}{
		{"empty", "k-empty", core.Blob{}},
		{"text", "k-text", core.Blob{Data: []byte(`{"AccessToken":{}}`)}},
		{"binary", "k-bin", core.Blob{Data: []byte{0, 1, 2, 0xff, '\r', '\n'}}},
		{"expiring", "k-exp", core.Blob{Data: []byte("x"), ExpiresOn: future}},
		{"odd key", "profile/user@example.com:*?[]", core.Blob{Data: []byte("y")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b := mustLoad(t, s, tt.key); b.Version != 0 || b.Data != nil {
				t.Fatalf("Load of absent = %+v, want zero", b)
			}
			v1 := mustSave(t, s, tt.key, tt.blob)
			got := mustLoad(t, s, tt.key)
			if got.Version != v1 || !bytes.Equal(got.Data, tt.blob.Data) || !got.ExpiresOn.Equal(tt.blob.ExpiresOn) {
				t.Fatalf("Load = %+v, want data %q version %d expiry %v", got, tt.blob.Data, v1, tt.blob.ExpiresOn)
			}
			next := tt.blob
			next.Version = v1
			next.Data = append([]byte("2:"), tt.blob.Data...)
			v2 := mustSave(t, s, tt.key, next)
			if v2 <= v1 {
				t.Fatalf("second version %d not above first %d", v2, v1)
			}
			if got := mustLoad(t, s, tt.key); got.Version != v2 || !bytes.Equal(got.Data, next.Data) {
				t.Fatalf("Load after rewrite = %+v", got)
			}
		})
	}
}

func TestConflict(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv.URL(), &Options{Key: newKey(t)})
	ctx := context.Background()
	v1 := mustSave(t, s, "k", core.Blob{Data: []byte("a")})
	v2 := mustSave(t, s, "k", core.Blob{Data: []byte("b"), Version: v1})
	for _, stale := range []uint64{0, v1, v2 + 1} {
		if _, err := s.Save(ctx, "k", core.Blob{Data: []byte("c"), Version: stale}); !errors.Is(err, core.ErrCacheConflict) {
			t.Errorf("Save with version %d (stored %d): err = %v, want ErrCacheConflict", stale, v2, err)
		}
	}
	if got := mustLoad(t, s, "k"); got.Version != v2 || string(got.Data) != "b" {
		t.Fatalf("a conflicting Save changed the entry: %+v", got)
	}
	if _, err := s.Save(ctx, "absent", core.Blob{Version: v2}); !errors.Is(err, core.ErrCacheConflict) {
		t.Fatalf("Save with a version over an absent key: err = %v, want ErrCacheConflict", err)
	}
}

func TestConcurrentSavesOneWinner(t *testing.T) {
	srv := redistest.Start(t)
	// Two Stores, so that two connection pools race too.
	key := newKey(t)
	stores := []*Store{open(t, srv.URL(), &Options{Key: key}), open(t, srv.URL(), &Options{Key: key})}
	ctx := context.Background()
	const writers, rounds = 16, 10
	var version uint64
	for round := range rounds {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
			newV    uint64
		)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := fmt.Sprintf("round %d writer %d", round, w)
				v, err := stores[w%2].Save(ctx, "shared", core.Blob{Data: []byte(data), Version: version})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners, newV = append(winners, data), v
				case !errors.Is(err, core.ErrCacheConflict):
					t.Errorf("Save: %v", err)
				}
			}()
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d winners %q, want exactly 1", round, len(winners), winners)
		}
		if newV <= version {
			t.Fatalf("round %d: version %d not above %d", round, newV, version)
		}
		if got := mustLoad(t, stores[0], "shared"); got.Version != newV || string(got.Data) != winners[0] {
			t.Fatalf("round %d: Load = %q v%d, want the winner %q v%d", round, got.Data, got.Version, winners[0], newV)
		}
		version = newV
	}
}

func TestTwoHostsShareEntries(t *testing.T) {
	srv := redistest.Start(t)
	key := newKey(t)
	a := open(t, srv.URL(), &Options{Key: key, Prefix: "app:"})
	b := open(t, srv.URL(), &Options{Key: key, Prefix: "app:"})
	ctx := context.Background()
	v1 := mustSave(t, a, "rt/alice", core.Blob{Data: []byte("from a")})
	if got := mustLoad(t, b, "rt/alice"); got.Version != v1 || string(got.Data) != "from a" {
		t.Fatalf("host b sees %+v, want host a's entry v%d", got, v1)
	}
	v2 := mustSave(t, b, "rt/alice", core.Blob{Data: []byte("from b"), Version: v1})
	if got := mustLoad(t, a, "rt/alice"); got.Version != v2 || string(got.Data) != "from b" {
		t.Fatalf("host a sees %+v, want host b's entry v%d", got, v2)
	}
	mustSave(t, b, "rt/bob", core.Blob{Data: []byte("bob")})
	ka, err := a.Keys(ctx, "rt/")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"rt/alice", "rt/bob"}; fmt.Sprint(ka) != fmt.Sprint(want) {
		t.Fatalf("host a Keys = %q, want %q", ka, want)
	}
	if err := a.Delete(ctx, "rt/alice"); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, b, "rt/alice"); got.Version != 0 || got.Data != nil {
		t.Fatalf("host b still sees a deleted entry: %+v", got)
	}
	if err := b.Delete(ctx, "rt/alice"); err != nil {
		t.Fatalf("Delete of an absent key: %v", err)
	}
}

func TestTTLFromExpiresOn(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv.URL(), &Options{Key: newKey(t)})
	raw := rawClient(t, srv)
	ctx := context.Background()
	v := mustSave(t, s, "tok", core.Blob{Data: []byte("t"), ExpiresOn: time.Now().Add(time.Hour)})
	ttl, err := raw.PTTL(ctx, DefaultPrefix+"e:tok").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > time.Hour+time.Minute {
		t.Fatalf("PTTL = %v, want about an hour", ttl)
	}
	// Rewriting without an expiry removes the TTL.
	mustSave(t, s, "tok", core.Blob{Data: []byte("t2"), Version: v})
	if ttl, err := raw.PTTL(ctx, DefaultPrefix+"e:tok").Result(); err != nil || ttl != -1 {
		t.Fatalf("PTTL without expiry = %v, %v; want -1 (no expiry)", ttl, err)
	}
	// Versions are per key: the entry is the only key written (no
	// counter, which would put a second key, in another cluster slot,
	// into every save).
	if n, err := raw.DBSize(ctx).Result(); err != nil || n != 1 {
		t.Fatalf("DBSIZE = %d, %v; want 1", n, err)
	}
}

func TestExpiredIsAbsentAndVersionsNeverRepeat(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv.URL(), &Options{Key: newKey(t)})
	raw := rawClient(t, srv)
	ctx := context.Background()
	seen := map[uint64]bool{}
	var last uint64
	check := func(v uint64) {
		t.Helper()
		if seen[v] || v <= last {
			t.Fatalf("version %d repeats or is not above %d", v, last)
		}
		seen[v], last = true, v
	}
	expire := func() {
		t.Helper()
		// An expiry in the past deletes the key at once: no waiting.
		if err := raw.PExpireAt(ctx, DefaultPrefix+"e:k", time.Unix(1, 0)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		check(mustSave(t, s, "k", core.Blob{Data: []byte("live"), ExpiresOn: time.Now().Add(time.Hour)}))
		expire()
		if got := mustLoad(t, s, "k"); got.Version != 0 || got.Data != nil {
			t.Fatalf("round %d: expired entry loads as %+v, want zero", i, got)
		}
		if ks, err := s.Keys(ctx, ""); err != nil || len(ks) != 0 {
			t.Fatalf("round %d: Keys = %q, %v; want none", i, ks, err)
		}
		// An ExpiresOn in the past stores nothing but still uses a version.
		check(mustSave(t, s, "k", core.Blob{Data: []byte("dead"), ExpiresOn: time.Now().Add(-time.Second)}))
		if got := mustLoad(t, s, "k"); got.Version != 0 {
			t.Fatalf("round %d: entry that expired on arrival loads as %+v", i, got)
		}
		if i == 2 {
			// Losing every key (FLUSHDB, eviction) must not restart versions.
			if err := raw.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestWrongKey(t *testing.T) {
	srv := redistest.Start(t)
	right := open(t, srv.URL(), &Options{Key: newKey(t)})
	wrong := open(t, srv.URL(), &Options{Key: newKey(t)})
	ctx := context.Background()
	v := mustSave(t, right, "k", core.Blob{Data: []byte("mine")})
	_, err := wrong.Load(ctx, "k")
	if !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("Load with another key: err = %v, want ErrWrongKey", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "redis: ") || !strings.Contains(msg, "different key") || !strings.Contains(msg, DefaultPrefix) {
		t.Errorf("unclear message: %s", msg)
	}
	if _, err := wrong.Save(ctx, "k", core.Blob{Data: []byte("theirs")}); !errors.Is(err, core.ErrCacheConflict) {
		t.Fatalf("Save over another key's entry: err = %v, want ErrCacheConflict", err)
	}
	if got := mustLoad(t, right, "k"); got.Version != v || string(got.Data) != "mine" {
		t.Fatalf("the entry was changed or dropped: %+v", got)
	}
	if err := wrong.Delete(ctx, "k"); err != nil {
		t.Fatalf("an explicit Delete must work: %v", err)
	}
}

func TestDamagedIsAbsent(t *testing.T) {
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	ctx := context.Background()
	var logs syncbuf.Buffer
	s := open(t, srv.URL(), &Options{Key: newKey(t), Log: zerolog.New(&logs)})
	rkey := func(k string) string { return DefaultPrefix + "e:" + k }
	plant := func(t *testing.T, k string, fn func(rk string) error) {
		t.Helper()
		if err := fn(rkey(k)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		plant func(t *testing.T, k string)
	}{
		{"not a hash", func(t *testing.T, k string) {
			plant(t, k, func(rk string) error { return raw.Set(ctx, rk, "garbage", 0).Err() })
		}},
		{"garbage payload", func(t *testing.T, k string) {
			plant(t, k, func(rk string) error { return raw.HSet(ctx, rk, "v", "7", "d", "garbage").Err() })
		}},
		{"missing payload", func(t *testing.T, k string) {
			plant(t, k, func(rk string) error { return raw.HSet(ctx, rk, "v", "7").Err() })
		}},
		{"flipped byte", func(t *testing.T, k string) {
			mustSave(t, s, k, core.Blob{Data: []byte("data")})
			plant(t, k, func(rk string) error {
				d, err := raw.HGet(ctx, rk, "d").Bytes()
				if err == nil {
					d[len(d)-1] ^= 1
					err = raw.HSet(ctx, rk, "d", d).Err()
				}
				return err
			})
		}},
		{"tampered version", func(t *testing.T, k string) {
			v := mustSave(t, s, k, core.Blob{Data: []byte("data")})
			plant(t, k, func(rk string) error { return raw.HSet(ctx, rk, "v", v+1).Err() })
		}},
		{"huge version", func(t *testing.T, k string) {
			mustSave(t, s, k, core.Blob{Data: []byte("data")})
			plant(t, k, func(rk string) error { return raw.HSet(ctx, rk, "v", "99999999999999999999999").Err() })
		}},
		{"moved from another key", func(t *testing.T, k string) {
			mustSave(t, s, "donor-"+k, core.Blob{Data: []byte("donor")})
			plant(t, k, func(rk string) error { return raw.Copy(ctx, rkey("donor-"+k), rk, 0, false).Err() })
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := fmt.Sprintf("damaged-%d", i)
			before := strings.Count(logs.String(), "deleted a damaged cache entry")
			tt.plant(t, k)
			for range 2 {
				if got := mustLoad(t, s, k); got.Version != 0 || got.Data != nil {
					t.Fatalf("damaged entry loads as %+v, want zero", got)
				}
			}
			if n := strings.Count(logs.String(), "deleted a damaged cache entry") - before; n != 1 {
				t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
			}
			if !strings.Contains(logs.String(), `"level":"warn"`) {
				t.Fatalf("no warning level in %s", logs.String())
			}
			if v := mustSave(t, s, k, core.Blob{Data: []byte("fresh")}); mustLoad(t, s, k).Version != v {
				t.Fatal("version 0 did not save over the damaged entry")
			}
		})
	}
	t.Run("overwrite without load", func(t *testing.T) {
		plant(t, "w", func(rk string) error { return raw.Set(ctx, rk, "garbage", 0).Err() })
		v := mustSave(t, s, "w", core.Blob{Data: []byte("fresh")})
		if got := mustLoad(t, s, "w"); got.Version != v || string(got.Data) != "fresh" {
			t.Fatalf("Load = %+v", got)
		}
	})
	t.Run("delete", func(t *testing.T) {
		plant(t, "d", func(rk string) error { return raw.HSet(ctx, rk, "v", "1", "d", "x").Err() })
		if err := s.Delete(ctx, "d"); err != nil {
			t.Fatal(err)
		}
		if n, _ := raw.Exists(ctx, rkey("d")).Result(); n != 0 {
			t.Fatal("Delete left the damaged entry")
		}
	})
}

func TestKeysPrefixIsolation(t *testing.T) {
	srv := redistest.Start(t)
	key := newKey(t)
	a := open(t, srv.URL(), &Options{Key: key, Prefix: "appA:"})
	b := open(t, srv.URL(), &Options{Key: key, Prefix: "appB:"})
	ctx := context.Background()
	for _, k := range []string{"tok/2", "tok/1", "rt/x", "a*b", "a?c", "[x]"} {
		mustSave(t, a, k, core.Blob{Data: []byte(k)})
	}
	mustSave(t, a, "tok/expired", core.Blob{Data: []byte("x"), ExpiresOn: time.Now().Add(-time.Second)})
	mustSave(t, b, "tok/b", core.Blob{Data: []byte("b")})
	// Many entries, so that SCAN needs several pages.
	for i := range 1500 {
		mustSave(t, b, fmt.Sprintf("bulk/%04d", i), core.Blob{})
	}
	tests := []struct {
		s      *Store
		prefix string
		want   []string
	}{
		{a, "", []string{"[x]", "a*b", "a?c", "rt/x", "tok/1", "tok/2"}},
		{a, "tok/", []string{"tok/1", "tok/2"}},
		{a, "a*", []string{"a*b"}},
		{a, "[", []string{"[x]"}},
		{a, "none", nil},
		{b, "tok/", []string{"tok/b"}},
	}
	for _, tt := range tests {
		got, err := tt.s.Keys(ctx, tt.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
			t.Errorf("%s Keys(%q) = %q, want %q", tt.s.prefix, tt.prefix, got, tt.want)
		}
	}
	bulk, err := b.Keys(ctx, "bulk/")
	if err != nil || len(bulk) != 1500 || bulk[0] != "bulk/0000" || bulk[1499] != "bulk/1499" {
		t.Fatalf("Keys over many pages: %d keys, err %v", len(bulk), err)
	}
	if got := mustLoad(t, b, "tok/1"); got.Version != 0 {
		t.Fatalf("app B reads app A's entry: %+v", got)
	}
}

func TestTLS(t *testing.T) {
	srv := redistest.StartTLS(t)
	ctx := context.Background()
	key := newKey(t)
	s := open(t, srv.URL(), &Options{Key: key, CA: srv.CA()})
	v := mustSave(t, s, "k", core.Blob{Data: []byte("over tls")})
	if got := mustLoad(t, s, "k"); got.Version != v || string(got.Data) != "over tls" {
		t.Fatalf("Load = %+v", got)
	}
	tests := []struct {
		name, url string
		opts      Options
		want      string
	}{
		{"untrusted CA", srv.URL(), Options{Key: key}, "TLS with " + srv.Addr()},
		{"CA without rediss", "redis://" + srv.Addr(), Options{Key: key, CA: srv.CA()}, "need a rediss:// URL"},
		{"no PEM", srv.URL(), Options{Key: key, CA: []byte("nope")}, "no PEM certificate"},
		{"plain to a TLS port", "redis://" + srv.Addr(), Options{Key: key, Timeout: 500 * time.Millisecond}, srv.Addr()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.url, &tt.opts)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestPassword(t *testing.T) {
	const pw = "s3cret-redis-pw"
	srv := redistest.StartWith(t, redistest.Config{Password: pw})
	ctx := context.Background()
	key := newKey(t)
	tests := []struct {
		name, url string
		password  string
		wantErr   string
	}{
		{"option", srv.URL(), pw, ""},
		{"in URL", "redis://:" + pw + "@" + srv.Addr(), "", ""},
		{"option overrides URL", "redis://:wrong@" + srv.Addr(), pw, ""},
		{"wrong", srv.URL(), "wrong-pw", "refused the credentials"},
		{"missing", srv.URL(), "", "refused the credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.url, &Options{Key: key, Password: core.NewSecret(tt.password)})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				mustSave(t, s, "k-"+tt.name, core.Blob{Data: []byte("x")})
				return
			}
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantErr) || !strings.Contains(msg, srv.Addr()) {
				t.Fatalf("unclear error: %s", msg)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	done := make(chan error, 1)
	go func() {
		s, err := Open(context.Background(), "redis://"+addr, &Options{Key: newKey(t)})
		if err == nil {
			_ = s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Open of a closed port succeeded")
		}
		if msg := err.Error(); !strings.Contains(msg, "cannot reach "+addr) {
			t.Fatalf("unclear error: %s", msg)
		}
	case <-time.After(time.Minute):
		t.Fatal("Open of a closed port hangs")
	}
}

func TestOpenErrors(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name, url string
		opts      *Options
		want      string
	}{
		{"nil options", "redis://127.0.0.1:1", nil, "no encryption key"},
		{"short key", "redis://127.0.0.1:1", &Options{Key: core.NewSecret("short")}, "encryption key must be"},
		{"scheme", "http://127.0.0.1:1", &Options{Key: key}, "must start with redis://"},
		{"bad port", "redis://u:pw@127.0.0.1:port", &Options{Key: key}, "invalid URL"},
		{"bad db", "redis://127.0.0.1:1/x", &Options{Key: key}, "invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(context.Background(), tt.url, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "redis: ") {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestCanary plants a key, a password and data, drives every path that
// logs or fails, and checks that none of them shows up in errors or logs.
func TestCanary(t *testing.T) {
	const (
		password = "canary-password-7f3a"
		data     = "canary-data-c0ffee"
	)
	key := newKey(t)
	rawKey, err := store.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.StartWith(t, redistest.Config{Password: password})
	raw := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Password: password})
	t.Cleanup(func() { _ = raw.Close() })
	ctx := context.Background()
	var logs syncbuf.Buffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)
	var errs []error
	try := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	opts := func(k core.Secret, pw string) *Options {
		return &Options{Key: k, Password: core.NewSecret(pw), Log: log}
	}

	s, err := Open(ctx, srv.URL(), opts(key, password))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.Save(ctx, "k", core.Blob{Data: []byte(data)})
	try(err)
	_, err = s.Save(ctx, "k", core.Blob{Data: []byte(data), Version: v + 1})
	try(err)
	if b := mustLoad(t, s, "k"); string(b.Data) != data {
		t.Fatalf("Load = %q", b.Data)
	}
	other := open(t, srv.URL(), opts(newKey(t), password))
	_, err = other.Load(ctx, "k")
	try(err)
	try(raw.HSet(ctx, DefaultPrefix+"e:damaged", "v", "1", "d", data).Err())
	_, err = s.Load(ctx, "damaged")
	try(err)
	_, err = s.Keys(ctx, "")
	try(err)
	_, err = Open(ctx, srv.URL(), opts(key, password+"-wrong"))
	try(err)
	_, err = Open(ctx, "redis://user:"+password+"@127.0.0.1:port", opts(key, ""))
	try(err)
	_, err = Open(ctx, "redis://user:"+password+"@127.0.0.1:1", opts(key, ""))
	try(err)
	_, err = Open(ctx, "redis://user:"+password+"@127.0.0.1:1/db", opts(key, ""))
	try(err)
	_, err = Open(ctx, srv.URL(), opts(core.NewSecret(password), password))
	try(err)
	_ = s.Close()
	_, err = s.Load(ctx, "k")
	try(err)

	if len(errs) < 8 {
		t.Fatalf("only %d errors; the canary paths did not all fail: %v", len(errs), errs)
	}
	text := logs.String()
	for _, err := range errs {
		text += "\n" + err.Error() + fmt.Sprintf(" %+v %#v", err, err)
	}
	if !strings.Contains(logs.String(), "connected to redis") || !strings.Contains(logs.String(), "damaged") {
		t.Fatalf("expected debug and warning lines, got:\n%s", logs.String())
	}
	for name, secret := range map[string]string{
		"password": password, "data": data, "key": key.Reveal(),
		"raw key": string(rawKey), "hex key": fmt.Sprintf("%x", rawKey),
	} {
		if strings.Contains(text, secret) {
			t.Errorf("the %s appears in logs or errors:\n%s", name, text)
		}
	}
}
