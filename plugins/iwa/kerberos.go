package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Environment variables of MIT Kerberos that the flow honours, as kinit
// and every GSS-API application do. The host passes them to plugins.
const (
	envCCache = "KRB5CCNAME"
	envConfig = "KRB5_CONFIG"
)

const defaultKrb5Conf = "/etc/krb5.conf"

// errNoKerberos is wrapped by every reason the local Kerberos state
// cannot sign anyone in: no configuration, no credential cache, no or an
// expired ticket. The flow is then unavailable, and says which.
var errNoKerberos = errors.New("no usable Kerberos credentials")

// kerberosError carries a reason and the hint to fix it.
type kerberosError struct {
	reason, hint string
}

func (e *kerberosError) Error() string { return e.reason }
func (e *kerberosError) Unwrap() error { return errNoKerberos }

func noKerberos(hint, format string, args ...any) error {
	return &kerberosError{reason: fmt.Sprintf(format, args...), hint: hint}
}

const hintKinit = "get a ticket with `kinit user@REALM` (check it with `klist`), or let the chain use another flow"

// kerberos is the user's Kerberos state, read from local files only.
type kerberos struct {
	cfg       *config.Config
	ccache    *credentials.CCache
	ccPath    string
	principal string // name@REALM of the ticket's client
	name      string
	realm     string
	expires   time.Time
}

// env is how the flow reads the process environment and clock; tests
// replace it.
type env struct {
	getenv func(string) string
	uid    func() int
	now    func() time.Time
}

func osEnv() env { return env{getenv: os.Getenv, uid: os.Getuid, now: time.Now} }

// loadKerberos reads krb5.conf (KRB5_CONFIG, else /etc/krb5.conf) and the
// credential cache (KRB5CCNAME, else FILE:/tmp/krb5cc_<uid>), and checks
// that the cache holds an unexpired ticket-granting ticket for its
// principal's realm. It does no network I/O, so a machine without a
// ticket answers "unavailable" at once.
func loadKerberos(e env) (*kerberos, error) {
	confPath := ""
	candidates := []string{defaultKrb5Conf}
	if v := e.getenv(envConfig); v != "" {
		candidates = strings.Split(v, ":")
	}
	for _, c := range candidates {
		if c = strings.TrimSpace(c); c != "" {
			if st, err := os.Stat(c); err == nil && !st.IsDir() {
				confPath = c
				break
			}
		}
	}
	if confPath == "" {
		return nil, noKerberos("install and configure Kerberos (/etc/krb5.conf), or point "+envConfig+" at a krb5.conf",
			"no Kerberos configuration: none of %s exists (%s)", strings.Join(candidates, ", "), envConfig)
	}
	cfg, err := config.Load(confPath)
	if err != nil {
		return nil, noKerberos("fix the file, or point "+envConfig+" at a working krb5.conf",
			"the Kerberos configuration %s does not parse: %s", confPath, firstLine(err.Error()))
	}
	ccName := e.getenv(envCCache)
	if ccName == "" {
		ccName = "FILE:/tmp/krb5cc_" + strconv.Itoa(e.uid())
	}
	ccPath, err := ccachePath(ccName)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(ccPath); err != nil {
		return nil, noKerberos(hintKinit, "no Kerberos ticket: the credential cache %s does not exist", ccPath)
	}
	cc, err := credentials.LoadCCache(ccPath)
	if err != nil {
		return nil, noKerberos(hintKinit, "the Kerberos credential cache %s cannot be read: %s", ccPath, firstLine(err.Error()))
	}
	k := &kerberos{cfg: cfg, ccache: cc, ccPath: ccPath,
		name: cc.DefaultPrincipal.PrincipalName.PrincipalNameString(), realm: cc.DefaultPrincipal.Realm}
	k.principal = k.name + "@" + k.realm
	if k.name == "" || k.realm == "" {
		return nil, noKerberos(hintKinit, "the Kerberos credential cache %s names no principal", ccPath)
	}
	tgt, ok := cc.GetEntry(types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", k.realm}})
	if !ok {
		return nil, noKerberos(hintKinit, "no ticket-granting ticket for %s in %s", k.principal, ccPath)
	}
	k.expires = tgt.EndTime
	if !e.now().Before(tgt.EndTime) {
		return nil, noKerberos("renew it with `kinit` (or `kinit -R` if it is renewable)",
			"the Kerberos ticket of %s expired at %s", k.principal, tgt.EndTime.Local().Format(time.RFC3339))
	}
	return k, nil
}

// ccachePath turns KRB5CCNAME into a file path. Only FILE caches can be
// read without the system's Kerberos libraries.
func ccachePath(name string) (string, error) {
	typ, rest, ok := strings.Cut(name, ":")
	if !ok || strings.HasPrefix(name, "/") {
		return name, nil
	}
	switch strings.ToUpper(typ) {
	case "FILE":
		return rest, nil
	case "DIR":
		// A DIR collection's primary cache is named in its "primary" file.
		dir := strings.TrimPrefix(rest, ":")
		b, err := os.ReadFile(filepath.Join(dir, "primary"))
		if err != nil {
			return "", noKerberos(hintKinit, "no Kerberos ticket: the credential cache collection %s has no primary cache", dir)
		}
		return filepath.Join(dir, strings.TrimSpace(string(b))), nil
	}
	return "", noKerberos("set "+envCCache+"=FILE:/tmp/krb5cc_$(id -u) and run kinit again",
		"the Kerberos credential cache type %s (%s) is not supported; only FILE and DIR caches are", typ, envCCache)
}

// upn is the user principal name Entra ID knows the user by, by the usual
// Active Directory convention: the principal's name at its realm in lower
// case (alice@CORP.EXAMPLE.COM signs in as alice@corp.example.com).
func (k *kerberos) upn() string { return k.name + "@" + strings.ToLower(k.realm) }

// negotiate sets r's Authorization header to an SPNEGO token for spn,
// asking the KDC for a service ticket unless the cache holds one. gokrb5
// takes no context, so the exchange runs aside and ctx bounds the wait.
// The token is a credential: it goes into the header only.
func (k *kerberos) negotiate(ctx context.Context, r *http.Request, spn string) error {
	done := make(chan error, 1)
	hdr := make(http.Header)
	go func() {
		cl, err := client.NewFromCCache(k.ccache, k.cfg, client.DisablePAFXFAST(true))
		if err != nil {
			done <- err
			return
		}
		defer cl.Destroy()
		probe := &http.Request{Header: hdr, URL: r.URL}
		done <- spnego.SetSPNEGOHeader(cl, probe, spn)
	}()
	select {
	case <-ctx.Done():
		return fmt.Errorf("asking the KDC for a ticket to %s: %w", spn, ctx.Err())
	case err := <-done:
		if err != nil {
			return noKerberos("check that the KDC of "+k.realm+" is reachable and knows the service principal "+spn,
				"no Kerberos service ticket for %s: %s", spn, firstLine(err.Error()))
		}
	}
	r.Header.Set("Authorization", hdr.Get("Authorization"))
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
