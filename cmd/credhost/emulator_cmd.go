package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/emulator"
)

// emulatorCmd runs the Entra ID emulator until interrupted.
type emulatorCmd struct {
	addr     string
	caFile   string
	tenants  string
	urlFile  string
	latency  time.Duration
	faults   []string
	lifetime time.Duration
	// User sign-ins (device code, interactive) for demos.
	autoSignIn     string
	autoApprove    time.Duration
	deviceInterval time.Duration
	// Federation (AD FS lookalike) for IWA and federated ROPC.
	federationHost string
	keytab         string
	spn            string
	federatedUsers []string
}

func (c *emulatorCmd) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address (loopback; port 0 picks a free one)")
	fs.StringVar(&c.caFile, "ca-file", "credhost-emulator-ca.pem", "where to write the emulator's CA certificate (PEM), for clients to trust")
	fs.StringVar(&c.tenants, "tenants", "", "JSON file of tenants, apps and users (default: a demo tenant; see emulator.DefaultConfig)")
	fs.StringVar(&c.urlFile, "url-file", "", "write the emulator's base URL to this file once it listens (for scripts)")
	fs.DurationVar(&c.latency, "latency", 0, "add this latency to every request")
	fs.StringArrayVar(&c.faults, "fault", nil, "inject a fault, e.g. endpoint=token,status=429,retry-after=3,times=2 (repeatable; keys: endpoint, status, retry-after, latency, drop, times)")
	fs.DurationVar(&c.lifetime, "token-lifetime", time.Hour, "lifetime of issued access tokens")
	fs.StringVar(&c.autoSignIn, "auto-sign-in", "", "sign this user in without a password on the sign-in pages (demos, browser tests)")
	fs.DurationVar(&c.autoApprove, "auto-approve-after", 0, "approve every device code this long after it is issued, as --auto-sign-in (default: "+emulator.DefaultUsername+")")
	fs.DurationVar(&c.deviceInterval, "device-code-interval", emulator.DefaultDeviceCodeInterval, "polling interval device codes ask for (whole seconds)")
	fs.StringVar(&c.federationHost, "federation-host", "", "host name of the AD FS lookalike in user realm and MEX answers (e.g. localhost; default: the request's host)")
	fs.StringVar(&c.keytab, "kerberos-keytab", "", "keytab with the key of the windowstransport service principal (IWA)")
	fs.StringVar(&c.spn, "kerberos-spn", "", "service principal of windowstransport (default HTTP/<federation host>)")
	fs.StringArrayVar(&c.federatedUsers, "federated-user", nil, "add a federated user (user@domain; its Kerberos principal is user@DOMAIN) to the first tenant (repeatable)")
}

func (c *emulatorCmd) validate(*globals) error {
	for _, f := range c.faults {
		if _, err := parseFault(f); err != nil {
			return usageError{err}
		}
	}
	return nil
}

func (c *emulatorCmd) run(ctx context.Context, _ *globals, e *env, _ []string) error {
	cfg := emulator.DefaultConfig()
	if c.tenants != "" {
		var err error
		if cfg, err = emulator.LoadConfig(c.tenants); err != nil {
			return usageError{err}
		}
	}
	for _, u := range c.federatedUsers {
		if !strings.Contains(u, "@") || len(cfg.Tenants) == 0 {
			return usageError{fmt.Errorf("--federated-user %q: give user@domain", u)}
		}
		cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, emulator.User{Username: u, Password: "unused: signs in with Kerberos", Federated: true})
	}
	if c.autoApprove > 0 && c.autoSignIn == "" && c.tenants == "" {
		c.autoSignIn = emulator.DefaultUsername
	}
	srv, err := emulator.New(emulator.Options{Addr: c.addr, CAFile: c.caFile, Config: cfg, TokenLifetime: c.lifetime, Logger: e.log,
		AutoSignIn: c.autoSignIn, AutoApproveAfter: c.autoApprove, DeviceCodeInterval: c.deviceInterval,
		FederationHost: c.federationHost, KerberosKeytab: c.keytab, KerberosSPN: c.spn})
	if err != nil {
		return err
	}
	if c.latency > 0 {
		srv.InjectFault(emulator.Fault{Latency: c.latency})
	}
	for _, spec := range c.faults {
		f, _ := parseFault(spec)
		srv.InjectFault(f)
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()
	if c.urlFile != "" {
		if err := os.WriteFile(c.urlFile, []byte(srv.URL()+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "credhost emulator listening on %s (CA certificate: %s); Ctrl-C stops it\n", srv.URL(), c.caFile)
	for _, t := range cfg.Tenants {
		fmt.Fprintf(e.stderr, "  tenant %s (%s): authority %s\n", t.Domain, t.ID, srv.Authority(t.ID))
	}
	<-ctx.Done()
	return nil
}

// parseFault reads "endpoint=token,status=429,retry-after=3,times=2".
func parseFault(spec string) (emulator.Fault, error) {
	var f emulator.Fault
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok && k != "drop" {
			return f, fmt.Errorf("--fault %q: %q is not key=value", spec, kv)
		}
		var err error
		switch k {
		case "endpoint":
			f.Endpoint = v
		case "status":
			f.Status, err = strconv.Atoi(v)
		case "retry-after":
			f.RetryAfter = v
		case "latency":
			f.Latency, err = time.ParseDuration(v)
		case "drop":
			f.Drop = v == "" || v == "true"
		case "times":
			f.Times, err = strconv.Atoi(v)
		default:
			err = errors.New("unknown key (use endpoint, status, retry-after, latency, drop, times)")
		}
		if err != nil {
			return f, fmt.Errorf("--fault %q: %s: %v", spec, k, err)
		}
	}
	return f, nil
}
