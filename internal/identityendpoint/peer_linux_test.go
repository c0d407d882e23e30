package identityendpoint_test

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/credhost/credhost/internal/identityendpoint"
)

// TestOtherUserRefused: a request with the right header from a socket of
// another uid (curl run as nobody) is refused, and nothing is issued.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	e := startEndpoint(t)
	e.srv.ResetCounts()
	q := url.Values{"api-version": {identityendpoint.APIVersion}, "resource": {storage}}
	cmd := exec.Command(curl, "-sS", "-H", identityendpoint.HeaderName+": "+e.ep.Secret().Reveal(), e.base+"?"+q.Encode())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl as nobody: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal(out, &body); err != nil {
		t.Fatalf("answer %q: %v", out, err)
	}
	if body["statusCode"] != float64(403) || !strings.Contains(body["message"].(string), "uid 65534") || body["access_token"] != nil {
		t.Fatalf("answer %v", body)
	}
	if n := e.srv.Count("token:client_credentials"); n != 0 {
		t.Fatalf("the emulator issued %d tokens", n)
	}
}
