package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/credhost/credhost/internal/testkit/redistest"
)

// TestRedisClusterAndSentinelShared: two hosts share a token through a
// three-master Redis Cluster and through a Sentinel group, configured by
// the [cache] url alone.
func TestRedisClusterAndSentinelShared(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"cluster", func(t *testing.T) string { return redistest.StartCluster(t, 3).URL() }},
		{"sentinel", func(t *testing.T) string { return redistest.StartSentinel(t).URL() + "&min_replicas=1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			w := newWorld(t)
			cfg := w.config(`["clientcreds"]`, `client_secret = "env:CI_SECRET"`)
			body, _ := os.ReadFile(cfg)
			body = append(body, []byte(fmt.Sprintf("\n[cache]\nbackend = \"redis\"\nurl = %q\nkey = \"env:FARM_KEY\"\n", url))...)
			if err := os.WriteFile(cfg, body, 0o600); err != nil {
				t.Fatal(err)
			}
			key := "FARM_KEY=" + strings.Repeat("k", 32)
			first, _ := w.token([]string{"CI_SECRET=" + secret, key})
			n := w.srv.Count("token")
			r := w.run([]string{"HOME=" + t.TempDir(), "CI_SECRET=" + secret, key}, "token", "--config", cfg, "--scope", scope)
			if r.code != 0 || strings.TrimSpace(r.stdout) != first || w.srv.Count("token") != n {
				t.Fatalf("second host: exit %d, same token %v, token requests %d → %d:\n%s", r.code, strings.TrimSpace(r.stdout) == first, n, w.srv.Count("token"), r.stderr)
			}
			if info := w.cacheInfo(key); info.Backend != "redis" || info.Tokens != 1 {
				t.Fatalf("cache info %+v", info)
			}
		})
	}
}
