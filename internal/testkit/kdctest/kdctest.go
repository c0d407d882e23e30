// Package kdctest runs a real MIT Kerberos KDC for tests: a throwaway
// realm in t.TempDir() on a random loopback port, with helpers to add
// principals, export service keytabs and get users tickets with kinit.
// Nothing outside the temp dir is touched, and the KDC is killed when
// the test ends.
//
// It needs the Debian packages krb5-kdc, krb5-admin-server and krb5-user.
// Without them Start skips the test, saying why, except when CI=true,
// where a missing KDC fails it: CI installs them (.ci/run).
package kdctest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Realm is the default realm of a KDC.
const Realm = "TEST.LOCAL"

// KDC is a running krb5kdc. Its methods fail the test on error.
type KDC struct {
	t     testing.TB
	Dir   string // the realm's files: database, stash, keytabs, configs
	Realm string
	Port  int
	// Krb5Conf is the client configuration (KRB5_CONFIG) pointing at the
	// KDC, for kinit and for gokrb5's config.Load.
	Krb5Conf string
	kdcConf  string
	bins     map[string]string
}

// tools are the programs the helper runs, with their package.
var tools = map[string]string{
	"kdb5_util":    "krb5-admin-server",
	"kadmin.local": "krb5-admin-server",
	"krb5kdc":      "krb5-kdc",
	"kinit":        "krb5-user",
	"kdestroy":     "krb5-user",
}

// Start creates realm Realm and starts its KDC, or skips the test if the
// MIT Kerberos tools are missing (fails it if CI=true).
func Start(t testing.TB) *KDC {
	t.Helper()
	bins := map[string]string{}
	var missing []string
	for name, pkg := range tools {
		p, err := lookPath(name)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (package %s)", name, pkg))
			continue
		}
		bins[name] = p
	}
	if len(missing) > 0 {
		msg := "kdctest: MIT Kerberos is not installed: missing " + strings.Join(missing, ", ") +
			"; apt-get install krb5-kdc krb5-admin-server krb5-user"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	k := &KDC{t: t, Dir: dir, Realm: Realm, Port: freePort(t), bins: bins,
		Krb5Conf: filepath.Join(dir, "krb5.conf"), kdcConf: filepath.Join(dir, "kdc.conf")}
	k.write(k.Krb5Conf, fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	udp_preference_limit = 1
	ticket_lifetime = 10h
[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[2]d
	}
`, k.Realm, k.Port))
	k.write(k.kdcConf, fmt.Sprintf(`[kdcdefaults]
	kdc_ports = %[2]d
	kdc_tcp_ports = %[2]d
[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
	}
[logging]
	kdc = FILE:%[3]s/kdc.log
`, k.Realm, k.Port, dir))
	k.write(filepath.Join(dir, "kadm5.acl"), "")
	k.run(nil, "kdb5_util", "create", "-s", "-r", k.Realm, "-P", "master-"+randomWord())
	k.startKDC()
	return k
}

// AddUser adds principal name@Realm with password.
func (k *KDC) AddUser(name, password string) {
	k.t.Helper()
	k.run(nil, "kadmin.local", "-q", fmt.Sprintf("addprinc -pw %s %s@%s", password, name, k.Realm))
}

// AddService adds the service principal spn (e.g. "HTTP/adfs.test.local")
// with a random key and exports it to a new keytab, whose path it
// returns.
func (k *KDC) AddService(spn string) string {
	k.t.Helper()
	kt := filepath.Join(k.Dir, strings.NewReplacer("/", "_", "@", "_").Replace(spn)+".keytab")
	k.run(nil, "kadmin.local", "-q", fmt.Sprintf("addprinc -randkey %s@%s", spn, k.Realm))
	k.run(nil, "kadmin.local", "-q", fmt.Sprintf("ktadd -k %s %s@%s", kt, spn, k.Realm))
	return kt
}

// Kinit gets name@Realm a ticket-granting ticket in a new FILE credential
// cache and returns its path (what KRB5CCNAME names, without "FILE:").
func (k *KDC) Kinit(name, password string) string {
	k.t.Helper()
	cc := filepath.Join(k.t.TempDir(), "krb5cc_"+name)
	k.run([]string{"KRB5CCNAME=FILE:" + cc}, "kinit", name+"@"+k.Realm, "<"+password)
	if _, err := os.Stat(cc); err != nil {
		k.t.Fatalf("kdctest: kinit wrote no credential cache: %v", err)
	}
	return cc
}

// Kdestroy destroys the credential cache at path, as a user signing out
// of Kerberos does.
func (k *KDC) Kdestroy(path string) {
	k.t.Helper()
	k.run([]string{"KRB5CCNAME=FILE:" + path}, "kdestroy")
}

// Log returns the KDC's log, for failure messages.
func (k *KDC) Log() string {
	b, _ := os.ReadFile(filepath.Join(k.Dir, "kdc.log"))
	return string(b)
}

func (k *KDC) startKDC() {
	k.t.Helper()
	pid := filepath.Join(k.Dir, "kdc.pid")
	cmd := exec.Command(k.bins["krb5kdc"], "-n", "-P", pid)
	cmd.Env = k.env(nil)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		k.t.Fatalf("kdctest: start krb5kdc: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	k.t.Cleanup(func() {
		// The KDC was started here; it is stopped by its own PID.
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", k.Port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			k.t.Fatalf("kdctest: krb5kdc exited: %s\n%s", out.String(), k.Log())
		default:
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("kdctest: krb5kdc did not listen on port %d: %s", k.Port, k.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs a tool in the realm's environment. An argument "<text" is
// not passed but written to the tool's standard input.
func (k *KDC) run(extraEnv []string, name string, args ...string) {
	k.t.Helper()
	var stdin string
	var argv []string
	for _, a := range args {
		if strings.HasPrefix(a, "<") {
			stdin = a[1:] + "\n"
			continue
		}
		argv = append(argv, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bins[name], argv...)
	cmd.Env = k.env(extraEnv)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		// The arguments may hold a test password; tests use throwaway
		// ones, but the command line is not printed anyway.
		k.t.Fatalf("kdctest: %s failed: %v\n%s", name, err, out)
	}
}

// env is a minimal environment pointing every tool at the realm.
func (k *KDC) env(extra []string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"KRB5_CONFIG=" + k.Krb5Conf,
		"KRB5_KDC_PROFILE=" + k.kdcConf,
		"KRB5CCNAME=FILE:" + filepath.Join(k.Dir, "unused-ccache"),
		"KRB5_TRACE=" + filepath.Join(k.Dir, "trace.log"),
	}
	return append(env, extra...)
}

func (k *KDC) write(path, content string) {
	k.t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		k.t.Fatalf("kdctest: %v", err)
	}
}

// lookPath finds a tool on PATH or in the sbin directories, which a
// non-root PATH often lacks.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// freePort returns a loopback port free for both TCP and UDP right now.
func freePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("kdctest: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatal("kdctest: no free port")
	return 0
}

func randomWord() string {
	return fmt.Sprintf("%x", time.Now().UnixNano())
}
