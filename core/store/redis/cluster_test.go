package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
	"github.com/credhost/credhost/internal/testkit/redistest"
)

// TestCluster: a store on a three-master Redis Cluster (slots assigned by
// the test) round-trips entries, keeps compare-and-set, and spreads many
// keys over every master, where Keys finds them all.
func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	ctx := context.Background()
	key := newKey(t)
	s := open(t, c.URL(), &Options{Key: key, Prefix: "farm:"})
	other := open(t, c.Nodes[2].URL()+"?cluster=true", &Options{Key: key, Prefix: "farm:"}) // one seed

	v1 := mustSave(t, s, "k", core.Blob{Data: []byte("one"), ExpiresOn: time.Now().Add(time.Hour)})
	if got := mustLoad(t, other, "k"); string(got.Data) != "one" || got.Version != v1 {
		t.Fatalf("another host loads %+v, want one@%d", got, v1)
	}
	v2 := mustSave(t, other, "k", core.Blob{Data: []byte("two"), Version: v1})
	if _, err := s.Save(ctx, "k", core.Blob{Data: []byte("stale"), Version: v1}); !errors.Is(err, core.ErrCacheConflict) {
		t.Fatalf("save on a stale version = %v, want a conflict", err)
	}
	if got := mustLoad(t, s, "k"); string(got.Data) != "two" || got.Version != v2 || v2 <= v1 {
		t.Fatalf("after the conflict: %+v (v1 %d, v2 %d)", got, v1, v2)
	}

	const n = 300
	for i := range n {
		mustSave(t, s, fmt.Sprintf("many|%03d", i), core.Blob{Data: []byte{byte(i)}})
	}
	keys, err := other.Keys(ctx, "many|")
	if err != nil || len(keys) != n {
		t.Fatalf("Keys = %d keys, %v; want %d", len(keys), err, n)
	}
	for i, node := range c.Nodes {
		rc := goredis.NewClient(&goredis.Options{Addr: node.Addr()})
		size, err := rc.DBSize(ctx).Result()
		_ = rc.Close()
		if err != nil || size < n/10 {
			t.Fatalf("master %d holds %d keys (%v): the entries are not spread over the slots", i, size, err)
		}
	}
	if err := s.Delete(ctx, "many|007"); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, other, "many|007"); got.Version != 0 {
		t.Fatalf("deleted entry loads %+v", got)
	}
}

// TestSentinelFailover: two hosts write through a Sentinel group (with
// min_replicas=1) while its master is killed. Every save a host was told
// succeeded is there afterwards, no load ever returns an older version
// than one already acknowledged, and both hosts go on after the failover.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a Sentinel failover")
	}
	g := redistest.StartSentinel(t)
	ctx := context.Background()
	key := newKey(t)
	hosts := []*Store{
		open(t, g.URL()+"&min_replicas=1", &Options{Key: key}),
		open(t, g.URL()+"&min_replicas=1", &Options{Key: key}),
	}

	type acked struct {
		version uint64
		data    string
	}
	var (
		mu      sync.Mutex
		done    = map[string]acked{}
		failed  int
		lastErr error
	)
	const perHost = 150
	deadline := time.Now().Add(90 * time.Second)
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for h, s := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perHost; {
				if time.Now().After(deadline) {
					t.Errorf("host %d: stuck at write %d after the failover", h, i)
					return
				}
				if h == 0 && i == perHost/3 {
					once.Do(func() { g.Master.Kill(); close(killed) })
				}
				k := fmt.Sprintf("tok|%d|%03d", h, i)
				data := fmt.Sprintf("token %d/%d", h, i)
				v, err := s.Save(ctx, k, core.Blob{Data: []byte(data), ExpiresOn: time.Now().Add(time.Hour)})
				if errors.Is(err, core.ErrCacheConflict) {
					// A save whose reply was lost in the failover but
					// that did land: the entry is there; load it.
					b, lerr := s.Load(ctx, k)
					if lerr == nil && string(b.Data) == data {
						v, err = b.Version, nil
					}
				}
				if err != nil {
					mu.Lock()
					failed, lastErr = failed+1, err
					mu.Unlock()
					time.Sleep(100 * time.Millisecond)
					continue
				}
				mu.Lock()
				done[k] = acked{v, data}
				mu.Unlock()
				// Never stale: the other host sees at least this version.
				if b, err := hosts[1-h].Load(ctx, k); err == nil && b.Version < v {
					t.Errorf("host %d loads %s at version %d after version %d was acknowledged", 1-h, k, b.Version, v)
				}
				i++
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("the master was never killed")
	}
	if len(done) != 2*perHost {
		t.Fatalf("%d of %d writes acknowledged; the last error: %v", len(done), 2*perHost, lastErr)
	}
	for k, a := range done {
		b, err := hosts[0].Load(ctx, k)
		if err != nil || b.Version < a.version || (b.Version == a.version && string(b.Data) != a.data) {
			t.Fatalf("after the failover %s = %+v, %v; acknowledged %q at version %d", k, b, err, a.data, a.version)
		}
	}
	t.Logf("%d writes acknowledged by 2 hosts across a failover; %d attempts failed during it and were retried", len(done), failed)
}

// BenchmarkHitMiss compares a single node with a three-master cluster in
// one run: a hit is one Load of an entry that is there; a miss is a Load
// that finds nothing and the Save that follows.
func BenchmarkHitMiss(b *testing.B) {
	single := redistest.Start(b)
	cluster := redistest.StartCluster(b, 3)
	key, err := store.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	data := make([]byte, 2048)
	for _, tc := range []struct{ name, url string }{{"single", single.URL()}, {"cluster", cluster.URL()}} {
		s, err := Open(ctx, tc.url, &Options{Key: key})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/hit", func(b *testing.B) {
			if _, err := s.Save(ctx, "hit", core.Blob{Data: data}); err != nil && !errors.Is(err, core.ErrCacheConflict) {
				b.Fatal(err)
			}
			for b.Loop() {
				if got, err := s.Load(ctx, "hit"); err != nil || got.Version == 0 {
					b.Fatalf("Load = %v, %v", got.Version, err)
				}
			}
		})
		b.Run(tc.name+"/miss", func(b *testing.B) {
			run := time.Now().UnixNano() // -count repeats the names
			i := 0
			for b.Loop() {
				k := fmt.Sprintf("miss|%d|%d", run, i)
				i++
				if got, err := s.Load(ctx, k); err != nil || got.Version != 0 {
					b.Fatalf("Load = %v, %v", got.Version, err)
				}
				if _, err := s.Save(ctx, k, core.Blob{Data: data, ExpiresOn: time.Now().Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = s.Close()
	}
}
