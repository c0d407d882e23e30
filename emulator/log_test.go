package emulator_test

import (
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

// TestLogsHaveNoSecrets plants secrets, assertions and tokens and checks
// that none reaches the debug log.
func TestLogsHaveNoSecrets(t *testing.T) {
	var buf syncbuf.Buffer
	srv := emulatortest.StartOptions(t, emulator.Options{Logger: zerolog.New(&buf).Level(zerolog.DebugLevel)})
	const canary = "canary-secret-7f3a9"
	r := postToken(t, srv, tenantID, secretForm(secret))
	tok, _ := r.body["access_token"].(string)
	postToken(t, srv, tenantID, secretForm(canary))
	fed, _ := srv.IssueFederatedToken("sub", "", 0)
	postToken(t, srv, tenantID, assertionForm(fed))
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/"+tenantID+"/discovery/v2.0/keys", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	do(t, srv, req)

	logs := buf.String()
	if !strings.Contains(logs, `"aadsts":7000215`) || !strings.Contains(logs, `"client_id":"`+clientID+`"`) {
		t.Errorf("expected request lines, got:\n%s", logs)
	}
	for name, s := range map[string]string{"secret": secret, "canary": canary, "token": tok, "assertion": fed} {
		if s == "" || strings.Contains(logs, s) {
			t.Errorf("%s leaked into logs (or empty)", name)
		}
	}
}
