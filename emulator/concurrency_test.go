package emulator_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/credhost/credhost/emulator"
)

// TestConcurrentClients runs many MSAL clients, raw requests, AddApp,
// faults and counters at once; run it with -race.
func TestConcurrentClients(t *testing.T) {
	srv := start(t)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := 0; i < n; i++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			app := newConfidential(t, srv, tenantID, clientID, secretCred(t, secret))
			res, err := app.AcquireTokenByCredential(t.Context(), []string{scope})
			if err != nil {
				errs <- err
				return
			}
			if _, err := srv.VerifyAccessToken(res.AccessToken); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("concurrent-%d", i)
			if err := srv.AddApp(tenantID, emulator.App{ClientID: id, Secrets: []string{"s"}}); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			srv.InjectFault(emulator.Fault{Endpoint: "keys", Status: 500, Times: 1})
			_ = srv.Count("token")
			if i%10 == 0 {
				srv.ClearFaults()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := srv.Count("token:client_credentials"); got != n {
		t.Errorf("token:client_credentials = %d, want %d", got, n)
	}
}
