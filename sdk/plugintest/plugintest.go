// Package plugintest is the conformance kit for credhost flow plugins: a
// plugin author calls Run from a test and gets, as subtests, the checks
// every flow must pass whatever its grant, through the same gRPC protocol
// the host speaks:
//
//	func TestConformance(t *testing.T) {
//		plugintest.Run(t, plugintest.Config{
//			NewFlow: newFlow,
//			Good:    sdk.FlowConfig{…}, // settings that give a token
//			Bad:     []plugintest.Bad{{Name: "no secret", Config: sdk.FlowConfig{…}, Fields: []string{"client_secret"}}},
//			Request: sdk.TokenRequest{Scopes: []string{"api://x/.default"}},
//			Stalled: func(addr string) sdk.FlowConfig { … }, // settings that send the first request to addr
//			Binary:  binPath, // optional: the built plugin, for the process checks
//		})
//	}
//
// It uses only sdk types; under the hood it serves the flow in-process over
// real gRPC (go-plugin's test connection, broker included) and, given a
// Binary, runs the plugin as the host does.
package plugintest

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/plugin"
	"github.com/credhost/credhost/sdk"
)

// Config says what to run the checks with. NewFlow or Binary is required;
// the zero value of every other field skips the checks that need it, with
// a log line saying so.
type Config struct {
	// NewFlow returns a new, unconfigured flow. It is served in-process,
	// and the checks that must watch the flow itself (Configure's error
	// type, GetToken returning after a cancel) call it directly.
	NewFlow func() sdk.Flow
	// Binary is the built plugin. If set, a token is also fetched through
	// a real plugin process, and killing that process, mid-call or
	// between calls, must be an error naming the flow, after which the
	// next call starts it again. Without NewFlow, every check runs
	// against the binary.
	Binary string
	// Good are settings with which GetToken answers Request with a token.
	Good sdk.FlowConfig
	// Request is the token request made with Good.
	Request sdk.TokenRequest
	// CheckToken, if set, checks the token Good gave (its claims, say).
	CheckToken func(t testing.TB, tok sdk.Token)
	// Bad are settings Configure must refuse.
	Bad []Bad
	// Stalled returns settings with which GetToken makes its first
	// network request to addr, a loopback host:port that accepts
	// connections and never answers ("https://"+addr as the authority,
	// or as an endpoint). Request is made with them, with ForceRefresh
	// set so that no cache of the flow's own (MSAL's managed identity
	// cache is process-wide) answers instead; the flow must return once
	// its context is cancelled. Configure and Check with these settings
	// must not connect to addr at all. Nil skips these checks.
	Stalled func(addr string) sdk.FlowConfig
	// UI answers prompts during GetToken; nil means nobody can see one
	// (the flow gets a UI whose Prompt fails as Unavailable).
	UI sdk.UI
	// HangGuard bounds every wait so that a hang fails the test rather
	// than the test binary's timeout; default 2 minutes. It is not a
	// performance bound: nothing here measures how long anything takes.
	HangGuard time.Duration
}

// Bad is one set of settings Configure must refuse.
type Bad struct {
	Name   string
	Config sdk.FlowConfig
	// Fields are the option keys (or "authority", "client_id",
	// "ca_file") the *sdk.ConfigError must name: exactly these, in any
	// order.
	Fields []string
}

// Run runs the conformance checks as subtests of t. Subtests run one
// after another: a flow may keep process-wide state (MSAL does).
func Run(t *testing.T, c Config) {
	t.Helper()
	if c.NewFlow == nil && c.Binary == "" {
		t.Fatal("plugintest: set Config.NewFlow or Config.Binary")
	}
	if c.HangGuard <= 0 {
		c.HangGuard = 2 * time.Minute
	}
	k := &kit{c: c, logs: &logBuffer{}}
	k.log = zerolog.New(k.logs).Level(zerolog.TraceLevel)
	k.name = k.describe(t)
	t.Run("configure", k.configure)
	t.Run("token", k.token)
	t.Run("unconfigured is unavailable", k.unconfigured)
	t.Run("check", k.check)
	t.Run("cancel stops GetToken", k.cancel)
	t.Run("process", k.process)
	// Last: it looks at every log line and error text the others saw.
	t.Run("no secret in logs or errors", k.noSecrets)
}

// kit holds what the checks share.
type kit struct {
	c    Config
	name string
	log  zerolog.Logger
	logs *logBuffer

	mu    sync.Mutex
	texts []string // every error text seen, for the secret check
}

// saw records err's text for the secret check and returns err.
func (k *kit) saw(err error) error {
	if err != nil {
		k.mu.Lock()
		k.texts = append(k.texts, err.Error())
		k.mu.Unlock()
	}
	return err
}

var (
	flowNameRE   = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	optionNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// semverRE is semver.org's regular expression, without a "v".
	semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
		`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
		`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
	// secretWords in an option name mean the value is a credential, which
	// the host must resolve (env:, file:) and never print.
	secretWords = []string{"secret", "password", "passphrase", "private_key", "api_key", "access_token", "refresh_token"}
)

// describe checks Describe over gRPC and returns the flow's name.
func (k *kit) describe(t *testing.T) string {
	var d sdk.Description
	t.Run("describe", func(t *testing.T) {
		var err error
		d, err = k.connect(t).Describe(context.Background())
		if err != nil {
			t.Fatalf("Describe: %v", err)
		}
		if !flowNameRE.MatchString(d.Name) {
			t.Errorf("name %q: want one lowercase word ([a-z][a-z0-9]*); the binary is credhost-plugin-<name>", d.Name)
		}
		if !semverRE.MatchString(d.Version) {
			t.Errorf("version %q: want a semantic version like 1.2.0 (no leading v)", d.Version)
		}
		seen := map[string]bool{}
		for _, o := range d.Options {
			switch {
			case !optionNameRE.MatchString(o.Name):
				t.Errorf("option %q: want lowercase snake_case", o.Name)
			case seen[o.Name]:
				t.Errorf("option %q is listed twice", o.Name)
			}
			seen[o.Name] = true
			if strings.TrimSpace(o.Help) == "" {
				t.Errorf("option %q has no Help: `credhost plugins list` shows it to users", o.Name)
			}
			if !o.Secret && slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(o.Name, w) }) {
				t.Errorf("option %q looks like a credential but is not marked Secret: the host would pass it in plain Options", o.Name)
			}
		}
		for _, s := range k.settings() {
			for key := range s.cfg.Options {
				if o, ok := d.Option(key); !ok || o.Secret {
					t.Errorf("%s: Options[%q]: Describe lists no plain option of that name (secrets go in Secrets)", s.name, key)
				}
			}
			for key := range s.cfg.Secrets {
				if o, ok := d.Option(key); !ok || !o.Secret {
					t.Errorf("%s: Secrets[%q]: Describe lists no secret option of that name", s.name, key)
				}
			}
		}
	})
	if d.Name == "" {
		t.FailNow()
	}
	return d.Name
}

// namedConfig is one of the settings the Config holds.
type namedConfig struct {
	name string
	cfg  sdk.FlowConfig
}

func (k *kit) settings() []namedConfig {
	out := []namedConfig{{"Good", k.c.Good}}
	for _, b := range k.c.Bad {
		out = append(out, namedConfig{"Bad " + b.Name, b.Config})
	}
	if k.c.Stalled != nil {
		out = append(out, namedConfig{"Stalled", k.c.Stalled("127.0.0.1:1")})
	}
	return out
}

// configure checks that Good is accepted and that each Bad is refused with
// a *sdk.ConfigError naming exactly its fields.
func (k *kit) configure(t *testing.T) {
	ctx := context.Background()
	if err := k.saw(k.connect(t).Configure(ctx, k.c.Good, &core.MemoryCache{})); err != nil {
		t.Errorf("Configure(Good) = %v, want nil", err)
	}
	if len(k.c.Bad) == 0 {
		t.Log("no Config.Bad: the refusal of wrong settings is not checked")
	}
	for _, b := range k.c.Bad {
		t.Run(b.Name, func(t *testing.T) {
			var err error
			if k.c.NewFlow != nil {
				// Directly: over gRPC every error becomes a field error,
				// which would hide a flow returning something else.
				err = k.guard(t, "Configure", func() error { return k.c.NewFlow().Configure(k.log.WithContext(ctx), b.Config) })
			} else {
				err = k.connect(t).Configure(ctx, b.Config, nil)
			}
			k.saw(err)
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Configure = %v (%T), want a *sdk.ConfigError", err, err)
			}
			var got []string
			for _, f := range ce.Fields {
				got = append(got, f.Field)
				if strings.TrimSpace(f.Message) == "" {
					t.Errorf("field %q has no message", f.Field)
				}
			}
			if ce.Flow != k.name {
				t.Errorf("ConfigError.Flow = %q, want %q", ce.Flow, k.name)
			}
			want := slices.Clone(b.Fields)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v (%v)", got, want, err)
			}
		})
	}
}

// token checks that Good gives a token for Request, twice (the second
// call may come from the flow's cache, through the host's Cache service).
func (k *kit) token(t *testing.T) {
	ctx := context.Background()
	c := k.connect(t)
	if err := k.saw(c.Configure(ctx, k.c.Good, &core.MemoryCache{})); err != nil {
		t.Fatalf("Configure(Good): %v", err)
	}
	for i := range 2 {
		tok, err := k.getToken(t, ctx, c)
		if err != nil {
			t.Fatalf("GetToken #%d: %v", i+1, err)
		}
		k.checkToken(t, tok)
	}
}

func (k *kit) checkToken(t *testing.T, tok sdk.Token) {
	t.Helper()
	if tok.AccessToken.IsZero() {
		t.Error("the token has no AccessToken")
	}
	if !tok.ExpiresOn.After(time.Now()) {
		t.Errorf("ExpiresOn = %v, want a time in the future", tok.ExpiresOn)
	}
	if tok.Flow != k.name {
		t.Errorf("Token.Flow = %q, want %q", tok.Flow, k.name)
	}
	if k.c.CheckToken != nil {
		k.c.CheckToken(t, tok)
	}
}

// unconfigured checks that GetToken without a successful Configure is
// Unavailable: the host may call it after Configure failed, and the chain
// must move on.
func (k *kit) unconfigured(t *testing.T) {
	ctx := context.Background()
	c := k.connect(t)
	if len(k.c.Bad) > 0 {
		_ = k.saw(c.Configure(ctx, k.c.Bad[0].Config, nil))
	}
	_, err := k.getToken(t, ctx, c)
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("GetToken on an unconfigured flow = %v (kind %v), want %v", err, sdk.KindOf(err), sdk.KindUnavailable)
	}
}

// check runs the flow's optional Check: an unconfigured flow must report
// a problem of kind Unavailable, and Check must not use the network.
func (k *kit) check(t *testing.T) {
	ctx := context.Background()
	known, problem, err := k.connect(t).Check(ctx, true)
	k.saw(err)
	k.saw(problem)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !known {
		t.Skip("the flow has no Check (optional: it lets `credhost doctor` say whether the flow can run here)")
	}
	if sdk.KindOf(problem) != sdk.KindUnavailable {
		t.Errorf("Check on an unconfigured flow = %v, want a problem of kind %v", problem, sdk.KindUnavailable)
	}
	if k.c.Stalled == nil {
		t.Log("no Config.Stalled: that Configure and Check stay off the network is not checked")
		return
	}
	stall := newStallServer(t)
	c := k.connect(t)
	if err := k.saw(c.Configure(ctx, k.c.Stalled(stall.addr()), &core.MemoryCache{})); err != nil {
		t.Fatalf("Configure(Stalled): %v", err)
	}
	_, problem, err = c.Check(ctx, true)
	k.saw(problem)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if n := stall.connections(); n > 0 {
		t.Errorf("Configure and Check opened %d connection(s): they must not use the network", n)
	}
}

// cancel checks that a cancelled context ends a GetToken that waits on
// the network: the call returns with an error and the flow closes its
// connection. It never measures how long that takes.
func (k *kit) cancel(t *testing.T) {
	if k.c.Stalled == nil {
		t.Skip("no Config.Stalled: cancellation is not checked")
	}
	stall := newStallServer(t)
	cfg := k.c.Stalled(stall.addr())
	req := k.stalledRequest()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	if k.c.NewFlow != nil {
		// Directly, not over gRPC: the host side of a stream returns as
		// soon as it is cancelled, whatever the plugin does.
		f := k.c.NewFlow()
		if err := k.saw(k.guard(t, "Configure", func() error { return f.Configure(k.log.WithContext(ctx), cfg) })); err != nil {
			t.Fatalf("Configure(Stalled): %v", err)
		}
		go func() {
			_, err := f.GetToken(k.log.WithContext(ctx), req, sdk.Services{Cache: &core.MemoryCache{}, UI: k.ui()})
			done <- err
		}()
	} else {
		c := k.connect(t)
		if err := k.saw(c.Configure(ctx, cfg, &core.MemoryCache{})); err != nil {
			t.Fatalf("Configure(Stalled): %v", err)
		}
		go func() {
			_, err := c.GetToken(ctx, req, k.c.UI)
			done <- err
		}()
	}
	select {
	case <-stall.reached:
	case err := <-done:
		t.Fatalf("GetToken returned (%v) before it sent anything to the stalled address %s: check Config.Stalled", err, stall.addr())
	case <-time.After(k.c.HangGuard):
		t.Fatalf("GetToken sent nothing to the stalled address %s within %v: check Config.Stalled", stall.addr(), k.c.HangGuard)
	}
	cancel()
	select {
	case err := <-done:
		k.saw(err)
		if err == nil {
			t.Fatal("GetToken returned no error after its context was cancelled")
		}
	case <-time.After(k.c.HangGuard):
		t.Fatalf("GetToken did not return within %v of its context being cancelled", k.c.HangGuard)
	}
	guard := time.After(k.c.HangGuard)
	for {
		n, changed := stall.open()
		if n == 0 {
			return
		}
		select {
		case <-changed:
		case <-guard:
			t.Fatalf("%d connection(s) to the stalled address still open %v after the cancel: the flow leaks its request", n, k.c.HangGuard)
		}
	}
}

// process runs the Binary as the host does: a token through it, a kill
// in the middle of a call, and a kill between calls.
func (k *kit) process(t *testing.T) {
	if k.c.Binary == "" {
		t.Skip("no Config.Binary: the plugin process is not checked")
	}
	ctx := context.Background()
	t.Run("token", func(t *testing.T) {
		p := k.start(t, k.c.Good)
		tok, err := k.processToken(ctx, p)
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		k.checkToken(t, tok)

		// Killed between calls: once the host has seen the process exit,
		// the next call starts a new one and gets a token.
		pid := p.Pid()
		kill(t, pid)
		guard := time.After(k.c.HangGuard)
		for p.Running() {
			select {
			case <-guard:
				t.Fatalf("the host did not notice within %v that plugin %d was killed", k.c.HangGuard, pid)
			case <-time.After(10 * time.Millisecond):
			}
		}
		tok, err = k.processToken(ctx, p)
		if err != nil {
			t.Fatalf("GetToken after the plugin was killed: %v", err)
		}
		k.checkToken(t, tok)
		if p.Pid() == pid {
			t.Errorf("pid %d after the kill: the plugin was not restarted", pid)
		}
	})
	t.Run("crash mid-call", func(t *testing.T) {
		if k.c.Stalled == nil {
			t.Skip("no Config.Stalled: a crash during a call is not checked")
		}
		stall := newStallServer(t)
		p := k.start(t, k.c.Stalled(stall.addr()))
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			c, err := p.Client(ctx)
			if err == nil {
				_, err = c.GetToken(ctx, k.stalledRequest(), k.c.UI)
			}
			done <- k.saw(err)
		}()
		select {
		case <-stall.reached:
		case err := <-done:
			t.Fatalf("GetToken returned (%v) before it sent anything to the stalled address", err)
		case <-time.After(k.c.HangGuard):
			t.Fatalf("GetToken sent nothing to the stalled address within %v", k.c.HangGuard)
		}
		kill(t, p.Pid())
		select {
		case err := <-done:
			if err == nil || sdk.KindOf(err) != sdk.KindFailed || !strings.Contains(err.Error(), k.name) {
				t.Fatalf("GetToken while the plugin was killed = %v, want a failure naming %s", err, k.name)
			}
		case <-time.After(k.c.HangGuard):
			t.Fatalf("the host did not report the killed plugin within %v", k.c.HangGuard)
		}
	})
}

// stalledRequest is Request made so that only the network can answer it.
func (k *kit) stalledRequest() sdk.TokenRequest {
	req := k.c.Request
	req.ForceRefresh = true
	return req
}

// start returns a plugin process of the Binary, set up with cfg, running.
func (k *kit) start(t *testing.T, cfg sdk.FlowConfig) *plugin.Process {
	t.Helper()
	p := plugin.NewProcess(plugin.Spec{
		Flow: k.name,
		Path: k.c.Binary,
		Log:  k.log,
		Setup: func(ctx context.Context, c *plugin.Client) error {
			if _, err := c.Describe(ctx); err != nil {
				return err
			}
			return c.Configure(ctx, cfg, &core.MemoryCache{})
		},
	})
	t.Cleanup(p.Close)
	ctx, cancel := context.WithTimeout(context.Background(), k.c.HangGuard)
	defer cancel()
	if _, err := p.Client(ctx); err != nil {
		t.Fatalf("start %s: %v", k.c.Binary, k.saw(err))
	}
	return p
}

func (k *kit) processToken(ctx context.Context, p *plugin.Process) (sdk.Token, error) {
	c, err := p.Client(ctx)
	if err != nil {
		return sdk.Token{}, k.saw(err)
	}
	tok, err := c.GetToken(ctx, k.c.Request, k.c.UI)
	return tok, k.saw(err)
}

func kill(t *testing.T, pid int) {
	t.Helper()
	proc, err := os.FindProcess(pid)
	if pid <= 0 || err != nil {
		t.Fatalf("no plugin process to kill (pid %d): %v", pid, err)
	}
	if err := proc.Kill(); err != nil {
		t.Fatalf("kill plugin %d: %v", pid, err)
	}
}

// noSecrets checks that no secret value of any settings appears in the
// flow's log lines (at trace level) or in an error text seen so far.
func (k *kit) noSecrets(t *testing.T) {
	logs := k.logs.String()
	k.mu.Lock()
	texts := strings.Join(k.texts, "\n")
	k.mu.Unlock()
	for _, s := range k.settings() {
		for key, v := range s.cfg.Secrets {
			val := v.Reveal()
			if len(val) < 6 {
				continue // too short to tell from ordinary text
			}
			if strings.Contains(logs, val) {
				t.Errorf("%s: the value of secret %q appears in the flow's logs", s.name, key)
			}
			if strings.Contains(texts, val) {
				t.Errorf("%s: the value of secret %q appears in an error text", s.name, key)
			}
		}
	}
}

// connect returns a host-side client for a new flow: served in-process
// from NewFlow, else a new process of Binary. Either is closed with t.
func (k *kit) connect(t *testing.T) *plugin.Client {
	t.Helper()
	if k.c.NewFlow != nil {
		return plugin.TestConnect(t, k.c.NewFlow(), k.log)
	}
	name := k.name
	if name == "" {
		name = "plugin" // before Describe
	}
	p := plugin.NewProcess(plugin.Spec{Flow: name, Path: k.c.Binary, Log: k.log})
	t.Cleanup(p.Close)
	ctx, cancel := context.WithTimeout(context.Background(), k.c.HangGuard)
	defer cancel()
	c, err := p.Client(ctx)
	if err != nil {
		t.Fatalf("start %s: %v", k.c.Binary, err)
	}
	return c
}

func (k *kit) getToken(t *testing.T, ctx context.Context, c *plugin.Client) (sdk.Token, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, k.c.HangGuard)
	defer cancel()
	tok, err := c.GetToken(ctx, k.c.Request, k.c.UI)
	return tok, k.saw(err)
}

// ui is what a direct call gets for Config.UI, as the plugin server would
// give it.
func (k *kit) ui() sdk.UI {
	if k.c.UI == nil {
		return core.NoUI
	}
	return k.c.UI
}

// guard runs fn, failing the test if it does not return within the hang
// guard.
func (k *kit) guard(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(k.c.HangGuard):
		t.Fatalf("%s did not return within %v", what, k.c.HangGuard)
		return nil
	}
}
