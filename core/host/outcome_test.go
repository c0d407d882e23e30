package host

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store/file"
)

// failingIdP is a chain that fails after a delay, like a flow whose
// token endpoint is down and whose retries take a while.
type failingIdP struct {
	calls atomic.Int32
	delay time.Duration
	kind  core.Kind
}

func (f *failingIdP) GetToken(ctx context.Context, _ core.TokenRequest) (core.Token, error) {
	f.calls.Add(1)
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return core.Token{}, ctx.Err()
	}
	return core.Token{}, &core.Error{Kind: f.kind, Flow: "clientcreds", Code: 90033, Hint: "the IdP is down", Err: errors.New("token endpoint: 503 Service Unavailable")}
}

// processes returns n cached credentials for one profile, each with its
// own flights and its own handle on one cache file, as n processes have.
func processes(t *testing.T, n int, next core.Credential) []*cachedCredential {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cache.bin")
	key := core.NewSecret(strings.Repeat("ab", 32))
	creds := make([]*cachedCredential, n)
	for i := range creds {
		st, err := file.Open(path, &file.Options{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		creds[i] = &cachedCredential{
			key:      core.TokenKey{Profile: "p", Authority: "https://login.example/t", ClientID: "c", Chain: "clientcreds"},
			l1:       core.NewTokenCache(st, nil),
			next:     next,
			flights:  &flights{},
			signIn:   st,
			outcomes: &outcomes{store: st, now: time.Now},
			log:      zerolog.Nop(),
		}
	}
	return creds
}

// TestWaitersShareTheHoldersFailure: callers waiting behind the sign-in
// lock while the holder fails take its failure instead of asking the IdP
// each in turn; a caller that comes afterwards asks again.
func TestWaitersShareTheHoldersFailure(t *testing.T) {
	idp := &failingIdP{delay: 300 * time.Millisecond, kind: core.KindFailed}
	const n = 20
	creds := processes(t, n, idp)
	req := core.TokenRequest{Scopes: []string{"api://x/.default"}}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, c := range creds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.GetToken(context.Background(), req)
		}()
	}
	wg.Wait()
	if got := idp.calls.Load(); got != 1 {
		t.Errorf("%d callers made %d calls to the IdP, want 1", n, got)
	}
	shared := 0
	for i, err := range errs {
		var ce *core.Error
		if !errors.As(err, &ce) || ce.Kind != core.KindFailed || ce.Code != 90033 || ce.Flow != "clientcreds" || !strings.Contains(err.Error(), "503 Service Unavailable") {
			t.Fatalf("caller %d: %v, want the IdP's failure", i, err)
		}
		var se *SharedFailureError
		if errors.As(err, &se) {
			shared++
		}
	}
	if shared != n-1 {
		t.Errorf("%d callers took the shared failure, want %d", shared, n-1)
	}
	t.Logf("%d callers failed in %v", n, time.Since(start))

	// A new call, after the failure, asks the IdP itself.
	if _, err := creds[0].GetToken(context.Background(), req); err == nil || errors.As(err, new(*SharedFailureError)) {
		t.Errorf("a later call took the old failure: %v", err)
	}
	if got := idp.calls.Load(); got != 2 {
		t.Errorf("IdP calls %d after a later call, want 2", got)
	}
}

// TestOnlyFailuresAreShared: a flow that is unavailable here (no
// browser, no terminal) or a holder that gave up (its own deadline) says
// nothing about the other callers: each still tries.
func TestOnlyFailuresAreShared(t *testing.T) {
	t.Run("unavailable", func(t *testing.T) {
		idp := &failingIdP{delay: 100 * time.Millisecond, kind: core.KindUnavailable}
		creds := processes(t, 3, idp)
		var wg sync.WaitGroup
		for _, c := range creds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = c.GetToken(context.Background(), core.TokenRequest{Scopes: []string{"s"}})
			}()
		}
		wg.Wait()
		if got := idp.calls.Load(); got != 3 {
			t.Errorf("IdP calls %d, want 3", got)
		}
	})
	t.Run("the holder's deadline", func(t *testing.T) {
		idp := &failingIdP{delay: time.Hour}
		creds := processes(t, 2, idp)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := creds[0].GetToken(ctx, core.TokenRequest{Scopes: []string{"s"}}); err == nil {
			t.Fatal("no error")
		}
		keys, err := creds[1].outcomes.store.(core.Store).Keys(context.Background(), OutcomeKeyPrefix)
		if err != nil || len(keys) != 0 {
			t.Fatalf("a cancelled call was recorded: %v %v", keys, err)
		}
	})
}
