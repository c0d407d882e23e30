package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/sdk"
)

// Flow identity.
const (
	flowName    = "azurecli"
	flowVersion = "1.0.0"
)

// Option keys of [profiles.<name>.azurecli].
const (
	optTenantID     = "tenant_id"
	optSubscription = "subscription"
	optTimeout      = "timeout"
)

// The variables az reads that the host must pass on (Describe): where
// az keeps its login, and the CA bundle its HTTP library trusts when it
// refreshes a token.
var environment = []string{"AZURE_CONFIG_DIR", "REQUESTS_CA_BUNDLE"}

// azCommand is the Azure CLI, found on PATH.
const azCommand = "az"

// defaultTimeout is azidentity's: az is a Python program, and a token
// refresh is a network call.
const defaultTimeout = 10 * time.Second

// maxOutput bounds what is kept of az's stdout and stderr.
const maxOutput = 1 << 20

// Tenant ids and subscriptions go on az's command line: like azidentity,
// accept only what they can be, so nothing becomes another flag.
var (
	tenantRE       = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.-]*$`)
	subscriptionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z ._-]*$`)
	scopeRE        = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._/:-]*$`)
)

// newFlow returns the flow, unconfigured.
func newFlow() sdk.Flow { return &flow{} }

// flow is safe for concurrent use: Configure swaps an immutable state.
type flow struct {
	mu    sync.Mutex
	state *state
}

type state struct {
	tenant       string
	subscription string
	timeout      time.Duration
	env          []string // az's environment: the plugin's plus the passed variables
}

// Describe implements sdk.Flow.
func (f *flow) Describe() sdk.Description {
	return sdk.Description{
		Name:    flowName,
		Version: flowVersion,
		Options: []sdk.OptionSpec{
			{Name: optTenantID, Help: "tenant to ask az for (--tenant); default: az's own, or the request's tenant"},
			{Name: optSubscription, Help: "subscription id or name for az (--subscription)"},
			{Name: optTimeout, Help: "how long az may take (default 10s)"},
		},
		Environment: environment,
	}
}

// Configure implements sdk.Flow. The profile's authority and client_id
// are not used: az signs in with its own client, in the tenant of its
// login. No network, no az.
func (f *flow) Configure(_ context.Context, cfg sdk.FlowConfig) error {
	ce := &sdk.ConfigError{Flow: flowName}
	st := &state{timeout: defaultTimeout}
	if v := strings.TrimSpace(cfg.Options[optTenantID]); v != "" {
		if !tenantRE.MatchString(v) {
			ce.Add(optTenantID, "must be a tenant id or domain (letters, digits, '.', '-')")
		}
		st.tenant = v
	}
	if v := strings.TrimSpace(cfg.Options[optSubscription]); v != "" {
		if !subscriptionRE.MatchString(v) {
			ce.Add(optSubscription, "must be a subscription id, or a name of letters, digits, spaces, '.', '_' and '-'")
		}
		st.subscription = v
	}
	if v := strings.TrimSpace(cfg.Options[optTimeout]); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > 10*time.Minute {
			ce.Add(optTimeout, "must be a duration between 100ms and 10m, like 10s")
		}
		st.timeout = d
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	st.env = os.Environ()
	for _, k := range environment {
		if v, ok := cfg.Environment[k]; ok && !v.IsZero() {
			st.env = append(st.env, k+"="+v.Reveal())
		}
	}
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	return nil
}

// GetToken implements sdk.Flow: one scope, as `az account get-access-token`
// gives a token for one resource.
func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, _ sdk.Services) (sdk.Token, error) {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Token{}, sdk.Unavailable(flowName, "not configured")
	}
	scopes := req.NormalizedScopes()
	if len(scopes) != 1 || !scopeRE.MatchString(scopes[0]) {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName,
			Err:  fmt.Errorf("az gives a token for one scope of letters, digits and ._/:-, and %q was asked for", strings.Join(scopes, " ")),
			Hint: "ask for one scope, e.g. https://management.azure.com/.default"}
	}
	tenant := st.tenant
	if req.TenantID != "" {
		if !tenantRE.MatchString(req.TenantID) {
			return sdk.Token{}, sdk.Failed(flowName, "tenant %q is not a tenant id or domain", req.TenantID)
		}
		tenant = req.TenantID
	}
	if req.Claims != "" {
		// az cannot answer a claims challenge itself: the user must sign
		// in again with it.
		login := "az login"
		if tenant != "" {
			login += " --tenant " + tenant
		}
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindInteractionRequired, Flow: flowName,
			Err:  errors.New("the resource asks for more (a claims challenge), which az can only satisfy by signing in again"),
			Hint: fmt.Sprintf("run: %s --claims-challenge %s", login, base64.StdEncoding.EncodeToString([]byte(req.Claims)))}
	}
	args := []string{"account", "get-access-token", "--output", "json"}
	if resource, ok := strings.CutSuffix(scopes[0], "/.default"); ok {
		args = append(args, "--resource", resource)
	} else {
		args = append(args, "--scope", scopes[0])
	}
	if tenant != "" {
		args = append(args, "--tenant", tenant)
	}
	if st.subscription != "" {
		args = append(args, "--subscription", st.subscription)
	}
	start := time.Now()
	out, err := st.run(ctx, args)
	if err != nil {
		return sdk.Token{}, err
	}
	tok, err := parseToken(out)
	if err != nil {
		return sdk.Token{}, err
	}
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Strs("scopes", scopes).Int64("duration_ms", time.Since(start).Milliseconds()).Msg("token from az")
	return tok, nil
}

// run runs az with args under st.timeout and returns its stdout, or an
// *sdk.Error saying why not: Unavailable where az is missing or nobody is
// signed in, so a chain moves on.
func (st *state) run(parent context.Context, args []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, st.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, azCommand, args...)
	cmd.Env = st.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitWriter{w: &stdout, n: maxOutput}, &limitWriter{w: &stderr, n: maxOutput}
	// az may leave children holding its pipes; do not wait on them.
	cmd.WaitDelay = 100 * time.Millisecond
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) && stdout.Len() > 0 {
		err = nil
	}
	if err == nil {
		return stdout.Bytes(), nil
	}
	msg := strings.TrimSpace(stderr.String())
	var exitErr *exec.ExitError
	switch {
	case errors.Is(err, exec.ErrNotFound) || (errors.As(err, &exitErr) && exitErr.ExitCode() == 127) || strings.Contains(msg, "az: command not found") || strings.Contains(msg, "' is not recognized"):
		e := sdk.Unavailable(flowName, "the Azure CLI (az) is not installed here: not found on PATH")
		e.Hint = "install the Azure CLI and run az login, or remove azurecli from the chain"
		return nil, e
	case parent.Err() != nil:
		return nil, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: parent.Err()}
	case ctx.Err() != nil:
		return nil, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: fmt.Errorf("az did not answer within %v: %w", st.timeout, ctx.Err()),
			Hint: "az may be refreshing its login over a slow network: try `az account get-access-token` yourself, or raise timeout"}
	case strings.Contains(msg, "az login") || strings.Contains(msg, "az account set"):
		e := sdk.Unavailable(flowName, "nobody is signed in to the Azure CLI here: %s", firstLine(msg))
		e.Hint = "run az login (with --tenant for another tenant), or remove azurecli from the chain"
		return nil, e
	}
	if msg == "" {
		msg = err.Error()
	}
	return nil, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: fmt.Errorf("az account get-access-token: %s", firstLine(msg)),
		Hint: "run `az account get-access-token` yourself to see why"}
}

// firstLine returns the first non-empty line of az's stderr, without its
// "ERROR: " prefix, bounded.
func firstLine(msg string) string {
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "ERROR:")); l != "" {
			if len(l) > 300 {
				l = l[:300] + "…"
			}
			return l
		}
	}
	return ""
}

// cliToken is az's answer. expires_on (Unix seconds) came with az 2.54;
// older ones give only expiresOn, in local time.
type cliToken struct {
	AccessToken string          `json:"accessToken"`
	ExpiresOn   string          `json:"expiresOn"`
	ExpiresOnTS json.RawMessage `json:"expires_on"`
	TokenType   string          `json:"tokenType"`
}

// parseToken reads az's JSON. Errors never quote it: it holds the token.
func parseToken(out []byte) (sdk.Token, error) {
	var t cliToken
	if err := json.Unmarshal(out, &t); err != nil || t.AccessToken == "" {
		return sdk.Token{}, sdk.Failed(flowName, "az printed no token (want JSON with accessToken)")
	}
	exp, err := t.expiry()
	if err != nil {
		return sdk.Token{}, sdk.Failed(flowName, "az's token has no usable expiry: %v", err)
	}
	typ := t.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	return sdk.Token{AccessToken: sdk.NewSecret(t.AccessToken), TokenType: typ, ExpiresOn: exp, Flow: flowName}, nil
}

func (t cliToken) expiry() (time.Time, error) {
	if raw := strings.Trim(string(t.ExpiresOnTS), `"`); raw != "" && raw != "null" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("expires_on %q is not Unix seconds", raw)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	exp, err := time.ParseInLocation("2006-01-02 15:04:05.999999", t.ExpiresOn, time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("expiresOn %q is not a local time like 2006-01-02 15:04:05.999999", t.ExpiresOn)
	}
	return exp.UTC(), nil
}

// limitWriter keeps the first n bytes written to it and drops the rest.
type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Check implements sdk.Checker for `credhost doctor`: whether az is
// installed. Whether someone is signed in takes running it, which only a
// token request does.
func (f *flow) Check(context.Context, sdk.Services) error {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Unavailable(flowName, "not configured")
	}
	if _, err := exec.LookPath(azCommand); err != nil {
		e := sdk.Unavailable(flowName, "the Azure CLI (az) is not installed here: not found on PATH")
		e.Hint = "install the Azure CLI and run az login, or remove azurecli from the chain"
		return e
	}
	return nil
}

// Interface guards.
var (
	_ sdk.Flow    = (*flow)(nil)
	_ sdk.Checker = (*flow)(nil)
)
