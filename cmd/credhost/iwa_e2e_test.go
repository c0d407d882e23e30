package main

// IWA end to end: the real CLI, real iwa and devicecode plugin processes,
// a real MIT KDC and the emulator's AD FS lookalike. The federation host
// is "localhost", which resolves to the emulator's loopback address
// without any test-only dialer, and whose service principal is
// HTTP/localhost.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/kdctest"
	"github.com/credhost/credhost/internal/testkit/testbin"
)

func TestIWAEndToEnd(t *testing.T) {
	kdc := kdctest.Start(t)
	const alicePW, bobPW = "alice-e2e-kerberos-pw", "bob-e2e-kerberos-pw"
	kdc.AddUser("alice", alicePW)
	kdc.AddUser("bob", bobPW)
	keytab := kdc.AddService("HTTP/localhost")
	realm := strings.ToLower(kdc.Realm)

	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users,
		emulator.User{Username: "alice@" + realm, Password: "unused", Federated: true},
		emulator.User{Username: "bob@" + realm, Password: "unused", Federated: true, MFA: true})
	cli := testbin.Build(t, "./cmd/credhost", "credhost")
	testbin.Build(t, "./plugins/iwa", "credhost-plugin-iwa")
	testbin.Build(t, "./plugins/devicecode", "credhost-plugin-devicecode")
	srv := emulatortest.StartOptions(t, emulator.Options{Config: cfg, FederationHost: "localhost", KerberosKeytab: keytab,
		DeviceCodeInterval: time.Second, AutoApproveAfter: time.Second, AutoSignIn: emulator.DefaultUsername})
	w := &world{t: t, srv: srv, cli: cli, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(w.dir, "ca.pem"), srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	body := `[profiles.laptop]
authority = "` + srv.Authority(tenantID) + `"
client_id = "` + emulator.DefaultPublicClientID + `"
chain = ["iwa", "devicecode"]
ca_file = "ca.pem"
remember_winner = false
`
	if err := os.WriteFile(filepath.Join(w.dir, "config.toml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ccache := kdc.Kinit("alice", alicePW)
	krb := []string{"KRB5_CONFIG=" + kdc.Krb5Conf, "KRB5CCNAME=FILE:" + ccache}
	token := func(env []string, args ...string) result {
		t.Helper()
		return w.run(env, append([]string{"token", "--config", filepath.Join(w.dir, "config.toml"), "--scope", scope, "--output", "json", "--log-level", "info"}, args...)...)
	}

	// With a ticket: IWA signs alice in, silently.
	r := token(krb)
	if r.code != 0 || !strings.Contains(r.stdout, `"flow": "iwa"`) || !strings.Contains(r.stdout, "alice@"+realm) || userCodeRE.MatchString(r.stderr) {
		t.Fatalf("iwa: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if srv.Count("devicecode") != 0 {
		t.Fatal("a device code was requested although IWA could sign in")
	}
	assertNoLeak(t, r.stdout+r.stderr, alicePW)

	// The refresh token keeps alice signed in without a ticket; on a
	// machine where she never signed in (a fresh cache) and has no ticket,
	// IWA is unavailable, the chain says why and moves on to the device
	// code (approved by the emulator).
	kdc.Kdestroy(ccache)
	if r := token(krb, "--force-refresh"); r.code != 0 || !strings.Contains(r.stdout, `"flow": "iwa"`) {
		t.Fatalf("silent refresh without a ticket: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = token(append(krb, "HOME="+t.TempDir()))
	if r.code != 0 || !strings.Contains(r.stdout, `"flow": "devicecode"`) || !strings.Contains(r.stderr, `"flow":"iwa"`) || !strings.Contains(r.stderr, `"kind":"unavailable"`) {
		t.Fatalf("without a ticket: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// bob needs MFA: IWA answers interaction required and the chain moves
	// on to the interactive flow.
	bob := []string{"KRB5_CONFIG=" + kdc.Krb5Conf, "KRB5CCNAME=FILE:" + kdc.Kinit("bob", bobPW), "HOME=" + t.TempDir()}
	r = token(bob)
	if !strings.Contains(r.stderr, `"flow":"iwa"`) || !strings.Contains(r.stderr, `"kind":"interaction required"`) || !strings.Contains(r.stderr, "50076") {
		t.Fatalf("MFA user: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r.code != 0 || !strings.Contains(r.stdout, `"flow": "devicecode"`) {
		t.Fatalf("MFA user: the chain did not move on to device code: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
