package client_test

// Load: an embedder calling GetToken from 1,000 goroutines over mixed
// profiles and scopes, against real plugin processes and the emulator.
// It runs a few seconds by default; CREDHOST_LOAD_SECONDS=30 runs the
// 30-second version. It checks, under -race: every call gets a token the
// emulator issued for the scope asked for, the emulator sees exactly one
// token request per distinct (profile, scope) (token lifetime 1h, so no
// key expires during the run), and after Close no goroutine or file
// descriptor is left over. The figures go to the test log.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
)

const (
	loadGoroutines = 1000
	loadProfiles   = 3
	loadScopes     = 10 // per profile, in the hit phase
)

func loadDuration(t *testing.T) time.Duration {
	t.Helper()
	if v := os.Getenv("CREDHOST_LOAD_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("CREDHOST_LOAD_SECONDS=%q: want a positive number of seconds", v)
		}
		return time.Duration(n) * time.Second
	}
	if testing.Short() {
		return time.Second
	}
	return 3 * time.Second
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd to count file descriptors: %v", err)
	}
	return len(ents)
}

// settle waits (bounded) until count() is at most want: goroutines and
// connections wind down in the background after Close.
func settle(want int, count func() int) int {
	n := count()
	for i := 0; i < 200 && n > want; i++ {
		time.Sleep(50 * time.Millisecond)
		n = count()
	}
	return n
}

func TestLoad(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts file descriptors in /proc")
	}
	bin := testbin.Build(t, "./plugins/clientcreds", "credhost-plugin-clientcreds")
	srv := emulatortest.Start(t, emulator.DefaultConfig())
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	body := "[cache]\nbackend = \"memory\"\n"
	for p := range loadProfiles {
		body += fmt.Sprintf(`
[profiles.p%d]
authority = %q
client_id = %q
chain = ["clientcreds"]
ca_file = %q
[profiles.p%d.clientcreds]
client_secret = %q
`, p, srv.Authority(benchTenant), benchClient, ca, p, benchSecret)
	}
	file, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}

	// Baselines: after the emulator and the build, before any client.
	runtime.GC()
	goroutinesBefore, fdsBefore := runtime.NumGoroutine(), openFDs(t)

	clients := make([]*client.Client, loadProfiles)
	for p := range clients {
		c, err := client.New(t.Context(), file, "p"+strconv.Itoa(p), &client.Options{PluginDirs: []string{filepath.Dir(bin)}})
		if err != nil {
			t.Fatal(err)
		}
		clients[p] = c
	}
	ctx := t.Context()

	// Misses: the goroutines ask for missKeys distinct scopes, once each
	// goroutine, so several ask for each key at once and must share one
	// request. The long run gives every goroutine a scope of its own.
	missKeys := 200
	if os.Getenv("CREDHOST_LOAD_SECONDS") != "" {
		missKeys = loadGoroutines
	}
	srv.ResetCounts()
	began := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := range loadGoroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scope := fmt.Sprintf("api://miss-%d/.default", g%missKeys)
			if err := getAndCheck(ctx, srv, clients[(g%missKeys)%loadProfiles], scope); err != nil {
				if failed.Add(1) == 1 {
					t.Errorf("miss %d: %v", g, err)
				}
			}
		}()
	}
	wg.Wait()
	missTime := time.Since(began)
	// Scope g%missKeys always goes to the same profile.
	missDistinct := map[[2]int]bool{}
	for g := range loadGoroutines {
		missDistinct[[2]int{(g % missKeys) % loadProfiles, g % missKeys}] = true
	}
	if n := srv.Count("token:client_credentials"); n != len(missDistinct) {
		t.Errorf("miss phase: %d token requests for %d distinct keys, want exactly one each", n, len(missDistinct))
	}

	// Hits (and the first miss of each key): mixed profiles and scopes
	// from every goroutine for the run's duration.
	srv.ResetCounts()
	d := loadDuration(t)
	var calls atomic.Int64
	used := make([][loadScopes]atomic.Bool, loadProfiles)
	deadline := time.Now().Add(d)
	began = time.Now()
	for g := range loadGoroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for time.Now().Before(deadline) {
				p, s := r.IntN(loadProfiles), r.IntN(loadScopes)
				used[p][s].Store(true)
				if err := getAndCheck(ctx, srv, clients[p], fmt.Sprintf("api://hit-%d/.default", s)); err != nil {
					if failed.Add(1) == 1 {
						t.Errorf("goroutine %d: %v", g, err)
					}
					return
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	hitTime := time.Since(began)
	distinct := 0
	for p := range used {
		for s := range used[p] {
			if used[p][s].Load() {
				distinct++
			}
		}
	}
	if n := srv.Count("token:client_credentials"); n != distinct {
		t.Errorf("hit phase: %d token requests for %d distinct keys, want exactly one each", n, distinct)
	}

	for _, c := range clients {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	goroutinesAfter := settle(goroutinesBefore, runtime.NumGoroutine)
	fdsAfter := settle(fdsBefore, func() int { return openFDs(t) })
	if goroutinesAfter > goroutinesBefore {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after Close\n%s", goroutinesBefore, goroutinesAfter, buf[:runtime.Stack(buf, true)])
	}
	if fdsAfter > fdsBefore {
		t.Errorf("file descriptors: %d before, %d after Close", fdsBefore, fdsAfter)
	}
	hits := calls.Load() - int64(distinct)
	t.Logf("load: %d goroutines, %d profiles; misses: %d keys in %v = %.0f/s; hits: %d calls in %v = %.0f/s (%d distinct keys, %d token requests); goroutines %d -> %d, fds %d -> %d",
		loadGoroutines, loadProfiles, len(missDistinct), missTime.Round(time.Millisecond), float64(len(missDistinct))/missTime.Seconds(),
		hits, hitTime.Round(time.Millisecond), float64(hits)/hitTime.Seconds(), distinct, srv.Count("token:client_credentials"),
		goroutinesBefore, goroutinesAfter, fdsBefore, fdsAfter)
}

// verified holds the tokens already checked (token -> scope), so that a
// hit costs a map lookup rather than an RSA verification.
var verified sync.Map

// getAndCheck gets a token for scope and checks that the emulator issued
// it for that scope's resource.
func getAndCheck(ctx context.Context, srv *emulator.Server, c *client.Client, scope string) error {
	tok, err := c.GetToken(ctx, sdk.TokenRequest{Scopes: []string{scope}})
	if err != nil {
		return err
	}
	raw := tok.AccessToken.Reveal()
	if s, ok := verified.Load(raw); ok {
		if s != scope {
			return fmt.Errorf("token of %v for %s", s, scope)
		}
		return nil
	}
	defer verified.Store(raw, scope)
	claims, err := srv.VerifyAccessToken(raw)
	if err != nil {
		return fmt.Errorf("token not issued by the emulator: %w", err)
	}
	if want := scope[:len(scope)-len("/.default")]; claims["aud"] != want {
		return fmt.Errorf("token for %v, want %s", claims["aud"], want)
	}
	return nil
}
