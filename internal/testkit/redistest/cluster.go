package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of masters without replicas on 127.0.0.1,
// its slots assigned by StartCluster itself (no redis-cli).
type Cluster struct {
	Nodes []*Server
}

// URL returns the store URL of the cluster: the first node, the others as
// addr parameters.
func (c *Cluster) URL() string {
	var q []string
	for _, n := range c.Nodes[1:] {
		q = append(q, "addr="+n.Addr())
	}
	return c.Nodes[0].URL() + "?" + strings.Join(q, "&")
}

// StartCluster runs masters redis-servers with cluster support, splits the
// 16384 slots evenly between them (CLUSTER ADDSLOTSRANGE), joins them
// (CLUSTER MEET) and waits until every node reports the cluster ok.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range masters {
		c.Nodes = append(c.Nodes, StartWith(t, Config{Args: []string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
		}}))
	}
	ctx := context.Background()
	const slots = 16384
	for i, n := range c.Nodes {
		rc := client(t, n.Addr())
		lo, hi := i*slots/masters, (i+1)*slots/masters-1
		if err := rc.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, n.Addr(), err)
		}
		if i > 0 {
			host, port, _ := net.SplitHostPort(n.Addr())
			if err := client(t, c.Nodes[0].Addr()).Do(ctx, "CLUSTER", "MEET", host, port).Err(); err != nil {
				t.Fatalf("redistest: CLUSTER MEET %s: %v", n.Addr(), err)
			}
		}
	}
	want := []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_known_nodes:" + strconv.Itoa(masters)}
	waitFor(t, 30*time.Second, "the cluster to form", func() bool {
		for _, n := range c.Nodes {
			info, err := client(t, n.Addr()).ClusterInfo(ctx).Result()
			if err != nil {
				return false
			}
			for _, w := range want {
				if !strings.Contains(info, w) {
					return false
				}
			}
		}
		return true
	})
	return c
}

// Sentinel is a Sentinel group on 127.0.0.1: a master, two replicas (so
// that the new master still has one after a failover) and one sentinel
// (quorum 1) that fails over after a second without the master.
type Sentinel struct {
	Master, Sentinel *Server
	Replicas         []*Server
	// Name is the master's name in the sentinel (master_name).
	Name string
}

// URL returns the store URL of the group: the sentinel, with master_name.
func (g *Sentinel) URL() string {
	return "redis://" + g.Sentinel.Addr() + "?master_name=" + g.Name
}

// StartSentinel runs a master, two replicas of it (waiting until they are
// in sync) and a sentinel monitoring the master.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	g := &Sentinel{Name: "credhost"}
	g.Master = Start(t)
	host, port, _ := net.SplitHostPort(g.Master.Addr())
	ctx := context.Background()
	for range 2 {
		r := StartWith(t, Config{Args: []string{"--replicaof", host, port}})
		g.Replicas = append(g.Replicas, r)
		waitFor(t, 30*time.Second, "a replica to sync", func() bool {
			info, err := client(t, r.Addr()).Info(ctx, "replication").Result()
			return err == nil && strings.Contains(info, "master_link_status:up")
		})
	}

	bin := binary(t)
	dir := t.TempDir()
	g.Sentinel = &Server{}
	var lastErr error
	for range 3 {
		p := freePort(t)
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel resolve-hostnames no\n"+
			"sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n",
			p, dir, g.Name, host, port, g.Name, g.Name)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		g.Sentinel.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if lastErr = g.Sentinel.run(t, bin, []string{conf, "--sentinel"}); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("redistest: sentinel: %v", lastErr)
	}
	waitFor(t, 30*time.Second, "the sentinel to see the replicas", func() bool {
		r, err := client(t, g.Sentinel.Addr()).Do(ctx, "SENTINEL", "REPLICAS", g.Name).Slice()
		return err == nil && len(r) == len(g.Replicas)
	})
	return g
}

// client returns a go-redis client of one node, closed in t.Cleanup.
func client(t testing.TB, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func waitFor(t testing.TB, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: gave up waiting %s for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
