package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/sdk"
)

// Flow identity.
const (
	flowName    = "managedidentity"
	flowVersion = "0.1.0"
)

// Option keys of [profiles.<name>.managedidentity].
const (
	optClientID       = "client_id"
	optObjectID       = "object_id"
	optResourceID     = "resource_id"
	optEndpoint       = "endpoint"
	optIdentityHeader = "identity_header"
	optIMDSEndpoint   = "imds_endpoint"
	optProbeTimeout   = "probe_timeout"
)

// defaultIMDSEndpoint is where MSAL always sends IMDS requests; an
// imds_endpoint option is reached by rewriting them (transport.go).
const defaultIMDSEndpoint = "http://169.254.169.254/metadata/identity/oauth2/token"

// forceRefreshClaims is the (empty) claims request that makes MSAL skip
// its cache for req.ForceRefresh.
const forceRefreshClaims = "{}"

// defaultProbeTimeout bounds how long a machine without an identity
// endpoint costs a chain: IMDS answers within milliseconds where it
// exists, and elsewhere a connection to it never completes.
const defaultProbeTimeout = time.Second

// msalSourceVars are the variables MSAL's managedidentity reads to pick
// its source (managedidentity.GetSource) and, for App Service, the
// endpoint and header of every request. The flow sets them from its own
// settings (applyEnv), so MSAL uses exactly the source the profile names.
var msalSourceVars = []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"}

// envMu serializes whoever sets msalSourceVars and whoever relies on them
// (building an MSAL client, an App Service request), so that two
// configurations in one process (tests serve several flows in-process)
// never see each other's variables. A plugin process serves one profile.
var envMu sync.Mutex

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// newFlow returns the managed identity flow, unconfigured.
func newFlow() sdk.Flow { return &flow{} }

// flow gets tokens for the managed identity of the Azure resource it runs
// on, from IMDS (VMs, VM scale sets, AKS nodes) or from the App Service
// and Functions identity endpoint. It is safe for concurrent use:
// Configure swaps an immutable state; GetToken works on a snapshot.
type flow struct {
	mu    sync.Mutex
	state *state // nil until Configure succeeds
}

// state is one successful Configure.
type state struct {
	id           managedidentity.ID
	identity     string // for logs: "system-assigned", "client_id <guid>", …
	appService   bool
	endpoint     string     // the App Service endpoint, or the IMDS endpoint
	header       sdk.Secret // App Service only
	probeAddr    string     // host:port of endpoint
	probeTimeout time.Duration
	http         *http.Client
	reachable    atomic.Bool // the probe succeeded once; later calls skip it

	mu     sync.Mutex
	client *managedidentity.Client // built on first use
}

// Describe implements sdk.Flow.
func (f *flow) Describe() sdk.Description {
	return sdk.Description{
		Name:    flowName,
		Version: flowVersion,
		Options: []sdk.OptionSpec{
			{Name: optClientID, Help: "client id of a user-assigned identity (default: the system-assigned identity)"},
			{Name: optObjectID, Help: "object (principal) id of a user-assigned identity"},
			{Name: optResourceID, Help: "ARM resource id of a user-assigned identity (/subscriptions/…/userAssignedIdentities/NAME)"},
			{Name: optEndpoint, Help: "App Service / Functions identity endpoint (the app's IDENTITY_ENDPOINT); unset means IMDS"},
			{Name: optIdentityHeader, Secret: true, Help: `App Service / Functions identity header, e.g. "env:IDENTITY_HEADER"`},
			{Name: optIMDSEndpoint, Help: "IMDS token endpoint (default " + defaultIMDSEndpoint + ")"},
			{Name: optProbeTimeout, Help: "how long to wait for the identity endpoint to accept a connection before the flow is unavailable (default 1s)"},
		},
	}
}

// Configure implements sdk.Flow. The profile's authority and client_id
// are not used: they belong to the chain's other flows, and a managed
// identity is an app of its own, in its own tenant. Nothing here touches
// the network. On error the previous configuration stays in force.
func (f *flow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	ce := &sdk.ConfigError{Flow: flowName}
	o := cfg.Options
	st := &state{id: managedidentity.SystemAssigned(), identity: "system-assigned", probeTimeout: defaultProbeTimeout}

	// At most one selector; a conflict is reported on the later keys, so
	// that the host places it under this flow's section.
	var set []string
	for _, k := range []string{optClientID, optObjectID, optResourceID} {
		if v := strings.TrimSpace(o[k]); v != "" {
			if len(set) > 0 {
				ce.Add(k, "set only one of client_id, object_id and resource_id (%s is set too)", set[0])
			}
			set = append(set, k)
		}
	}
	if v := strings.TrimSpace(o[optClientID]); v != "" {
		if !guidRE.MatchString(v) {
			ce.Add(optClientID, "must be the identity's client id, a GUID")
		}
		st.id, st.identity = managedidentity.UserAssignedClientID(v), "client_id "+v
	}
	if v := strings.TrimSpace(o[optObjectID]); v != "" {
		if !guidRE.MatchString(v) {
			ce.Add(optObjectID, "must be the identity's object id, a GUID")
		}
		st.id, st.identity = managedidentity.UserAssignedObjectID(v), "object_id "+v
	}
	if v := strings.TrimSpace(o[optResourceID]); v != "" {
		if !strings.HasPrefix(strings.ToLower(v), "/subscriptions/") {
			ce.Add(optResourceID, "must be an ARM resource id starting with /subscriptions/")
		}
		st.id, st.identity = managedidentity.UserAssignedResourceID(v), "resource_id "+v
	}

	endpoint, imds := strings.TrimSpace(o[optEndpoint]), strings.TrimSpace(o[optIMDSEndpoint])
	header := cfg.Secrets[optIdentityHeader]
	var imdsTarget *url.URL
	if endpoint != "" {
		st.appService, st.endpoint, st.header = true, endpoint, header
		st.probeAddr = endpointAddr(endpoint, optEndpoint, ce)
		if imds != "" {
			ce.Add(optIMDSEndpoint, "set endpoint (App Service, Functions) or imds_endpoint (a VM), not both")
		}
		if header.IsZero() {
			ce.Add(optIdentityHeader, `the App Service endpoint needs its header: identity_header = "env:IDENTITY_HEADER"`)
		}
	} else {
		if !header.IsZero() {
			ce.Add(optIdentityHeader, "is only for the App Service endpoint: set endpoint too, or remove it")
		}
		st.endpoint = defaultIMDSEndpoint
		if imds != "" {
			st.endpoint = imds
		}
		st.probeAddr = endpointAddr(st.endpoint, optIMDSEndpoint, ce)
		if imds != "" && imds != defaultIMDSEndpoint {
			imdsTarget, _ = url.Parse(imds)
		}
	}
	if v := strings.TrimSpace(o[optProbeTimeout]); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Minute {
			ce.Add(optProbeTimeout, "must be a duration between 1ms and 1m, like 1s or 500ms")
		}
		st.probeTimeout = d
	}
	hc, err := newHTTPClient(cfg.CACertificates, imdsTarget)
	if err != nil {
		ce.Add("ca_file", "%v", err)
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	st.http = hc
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("source", st.source()).Str("identity", st.identity).Msg("configured")
	return nil
}

// endpointAddr checks that raw is an http(s) URL and returns its host:port
// for the probe.
func endpointAddr(raw, key string, ce *sdk.ConfigError) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ce.Add(key, "must be an http or https URL")
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func (st *state) source() string {
	if st.appService {
		return "appservice"
	}
	return "imds"
}

// GetToken implements sdk.Flow. The one scope names the resource
// ("<resource>/.default"). MSAL keeps managed identity tokens in a cache
// of its own, process-wide, which req.Claims and req.ForceRefresh skip.
func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, _ sdk.Services) (sdk.Token, error) {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Token{}, sdk.Unavailable(flowName, "not configured")
	}
	scopes := req.NormalizedScopes()
	if len(scopes) != 1 {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName,
			Err:  fmt.Errorf("a managed identity token is for one resource, and %d scopes were asked for", len(scopes)),
			Hint: "ask for one scope, <resource>/.default, e.g. https://management.azure.com/.default"}
	}
	if req.TenantID != "" {
		// Unavailable, not Failed: a later flow of the chain may serve
		// another tenant.
		return sdk.Token{}, sdk.Unavailable(flowName, "a managed identity gets tokens in its own tenant only, not in tenant %s", req.TenantID)
	}
	if err := st.probe(ctx); err != nil {
		return sdk.Token{}, err
	}
	client, err := st.msal()
	if err != nil {
		return sdk.Token{}, err
	}
	var opts []managedidentity.AcquireTokenOption
	switch {
	case req.Claims != "":
		opts = append(opts, managedidentity.WithClaims(req.Claims))
	case req.ForceRefresh:
		// MSAL has no other way to skip its cache. In v1.10.1 claims do
		// nothing else: no source sends them (AcquireToken, getToken).
		// Recheck this when upgrading MSAL.
		opts = append(opts, managedidentity.WithClaims(forceRefreshClaims))
	}
	start := time.Now()
	res, err := st.acquire(ctx, client, scopes[0], opts)
	if err != nil {
		return sdk.Token{}, st.classify(ctx, err)
	}
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("source", st.source()).Str("identity", st.identity).
		Strs("scopes", scopes).Bool("cache", res.Metadata.TokenSource == managedidentity.TokenSourceCache).
		Int64("duration_ms", time.Since(start).Milliseconds()).Msg("token acquired")
	return sdk.Token{
		AccessToken: sdk.NewSecret(res.AccessToken),
		TokenType:   "Bearer",
		ExpiresOn:   res.ExpiresOn,
		RefreshOn:   res.Metadata.RefreshOn,
		Flow:        flowName,
	}, nil
}

// probe makes sure the identity endpoint accepts connections, within
// probeTimeout, before MSAL is asked: MSAL retries a refused or
// unanswered connection three times a second apart, after a dial that
// waits as long as the OS lets it, which is what makes other tools spend
// 8-25 s finding out that a laptop has no IMDS. A success is remembered;
// a failure is not, so the next call probes again.
func (st *state) probe(ctx context.Context) error {
	if st.reachable.Load() {
		return nil
	}
	d := net.Dialer{Timeout: st.probeTimeout}
	conn, err := d.DialContext(ctx, "tcp", st.probeAddr)
	if err != nil {
		if ctx.Err() != nil {
			return &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: ctx.Err()}
		}
		e := sdk.Unavailable(flowName, "no managed identity endpoint here: %s (%s) did not accept a connection within %v", st.endpoint, st.source(), st.probeTimeout)
		e.Hint = "outside Azure this is expected; on App Service or Functions set endpoint and identity_header, on a VM check that it has an identity"
		return e
	}
	_ = conn.Close()
	st.reachable.Store(true)
	return nil
}

// msal returns the MSAL client, building it on first use.
func (st *state) msal() (*managedidentity.Client, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.client != nil {
		return st.client, nil
	}
	envMu.Lock()
	defer envMu.Unlock()
	st.applyEnv()
	want := managedidentity.DefaultToIMDS
	if st.appService {
		want = managedidentity.AppService
	}
	// The variables are ours now, but MSAL also looks for an Azure Arc
	// agent on disk.
	if got, err := managedidentity.GetSource(); err != nil || got != want {
		return nil, sdk.Unavailable(flowName, "MSAL detects managed identity source %q here, not %q, which this plugin does not support", got, want)
	}
	c, err := managedidentity.New(st.id, managedidentity.WithHTTPClient(st.http))
	if err != nil {
		return nil, sdk.Failed(flowName, "%v", err)
	}
	st.client = &c
	return st.client, nil
}

// acquire asks MSAL for a token. An App Service request is built from the
// variables, so it holds envMu: concurrent App Service requests of one
// process take turns.
func (st *state) acquire(ctx context.Context, c *managedidentity.Client, scope string, opts []managedidentity.AcquireTokenOption) (managedidentity.AuthResult, error) {
	if st.appService {
		envMu.Lock()
		defer envMu.Unlock()
		st.applyEnv()
	}
	return c.AcquireToken(ctx, scope, opts...)
}

// applyEnv sets msalSourceVars for this configuration. The caller holds
// envMu. The header lands in the plugin's own environment, where App
// Service puts it too, and nowhere else: the plugin starts no processes.
func (st *state) applyEnv() {
	for _, k := range msalSourceVars {
		_ = os.Unsetenv(k)
	}
	if st.appService {
		_ = os.Setenv("IDENTITY_ENDPOINT", st.endpoint)
		_ = os.Setenv("IDENTITY_HEADER", st.header.Reveal())
	}
}

// classify turns an MSAL error into an *sdk.Error. The MSAL error is kept
// as text only (%v): its request carries the identity header.
func (st *state) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: fmt.Errorf("%w: %v", ctx.Err(), err)}
	}
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil {
		return sdk.Failed(flowName, "%v", err)
	}
	e := sdk.Failed(flowName, "%s answered %d: %v", st.source(), ce.Resp.StatusCode, err)
	switch status := ce.Resp.StatusCode; {
	case !st.appService && status == 400:
		// IMDS answers 400 when the machine has no such identity: it
		// cannot run here, as azidentity also decides.
		e.Kind = sdk.KindUnavailable
		e.Hint = "this machine has no such managed identity: assign it (or enable the system-assigned one), or check client_id, object_id or resource_id"
	case st.appService && (status == 401 || status == 403):
		e.Hint = `the identity endpoint refused identity_header: set identity_header = "env:IDENTITY_HEADER" with the app's own value`
	case st.appService && status == 400:
		e.Hint = "check client_id, object_id or resource_id: the identity must be assigned to this app"
	}
	return e
}

// Check implements the optional checker of `credhost doctor`. Whether the
// endpoint answers takes a network call, which only --probe makes.
func (f *flow) Check(context.Context, sdk.Services) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == nil {
		return sdk.Unavailable(flowName, "not configured")
	}
	return nil
}

// Interface guards.
var _ sdk.Flow = (*flow)(nil)
