package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
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
	flowVersion = "1.0.0"
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

// forceRefreshClaims is the (empty) claims request that makes MSAL skip
// its cache for req.ForceRefresh.
const forceRefreshClaims = "{}"

// envMu serializes whoever sets msalVars and whoever relies on them
// (source detection, every MSAL request but IMDS's), so that two
// configurations in one process (tests serve several flows in-process)
// never see each other's variables. A plugin process serves one profile.
var envMu sync.Mutex

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// newFlow returns the managed identity flow, unconfigured.
func newFlow() sdk.Flow { return &flow{} }

// flow gets tokens for the managed identity of the Azure resource it runs
// on. It is safe for concurrent use: Configure swaps an immutable state;
// GetToken works on a snapshot.
type flow struct {
	mu    sync.Mutex
	state *state // nil until Configure succeeds
}

// state is one successful Configure.
type state struct {
	id       managedidentity.ID
	identity string // for logs: "system-assigned", "client_id <guid>", …
	source   managedidentity.Source
	env      map[string]string // msalVars as MSAL must see them
	// IMDS only: where requests go, and whether this is an Azure VM.
	imdsEndpoint string
	vm           vmEvidence
	evidence     string
	probeTimeout time.Duration
	http         *http.Client
	reachable    atomic.Bool // the IMDS probe succeeded once

	mu     sync.Mutex
	client *managedidentity.Client // built on first use
}

// Describe implements sdk.Flow.
func (f *flow) Describe() sdk.Description {
	return sdk.Description{
		Name:    flowName,
		Version: flowVersion,
		Options: []sdk.OptionSpec{
			{Name: optClientID, Help: `client id of a user-assigned identity, or "env:AZURE_CLIENT_ID" (default: the system-assigned identity)`},
			{Name: optObjectID, Help: "object (principal) id of a user-assigned identity"},
			{Name: optResourceID, Help: "ARM resource id of a user-assigned identity (/subscriptions/…/userAssignedIdentities/NAME)"},
			{Name: optEndpoint, Help: "App Service / Functions identity endpoint, instead of the IDENTITY_ENDPOINT the platform sets"},
			{Name: optIdentityHeader, Secret: true, Help: "App Service / Functions identity header, with endpoint (default: IDENTITY_HEADER)"},
			{Name: optIMDSEndpoint, Help: "IMDS token endpoint (default: " + envPodIdentityHost + "'s, else " + defaultIMDSEndpoint + ")"},
			{Name: optProbeTimeout, Help: "where nothing on the machine says whether it is an Azure VM, how long IMDS may take to answer a probe (default 2s)"},
		},
		Environment: environment,
	}
}

// Configure implements sdk.Flow. The profile's authority and client_id
// are not used: they belong to the chain's other flows, and a managed
// identity is an app of its own, in its own tenant. Nothing here touches
// the network. On error the previous configuration stays in force.
func (f *flow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	ce := &sdk.ConfigError{Flow: flowName}
	o := cfg.Options
	st := &state{id: managedidentity.SystemAssigned(), identity: "system-assigned", probeTimeout: defaultProbeTimeout, env: map[string]string{}}
	selectIdentity(st, o, ce)

	for _, k := range msalVars {
		if v, ok := cfg.Environment[k]; ok && !v.IsZero() {
			st.env[k] = v.Reveal()
		}
	}
	endpoint, imds := strings.TrimSpace(o[optEndpoint]), strings.TrimSpace(o[optIMDSEndpoint])
	header := cfg.Secrets[optIdentityHeader]
	switch {
	case endpoint != "":
		// The profile names the App Service endpoint: it replaces whatever
		// the platform set.
		checkURL(endpoint, optEndpoint, ce)
		if imds != "" {
			ce.Add(optIMDSEndpoint, "set endpoint (App Service, Functions) or imds_endpoint (a VM), not both")
		}
		if header.IsZero() {
			ce.Add(optIdentityHeader, `the App Service endpoint needs its header: identity_header = "env:IDENTITY_HEADER"`)
		}
		clear(st.env)
		st.env[envIdentityEndpoint], st.env[envIdentityHeader] = endpoint, header.Reveal()
	case !header.IsZero():
		ce.Add(optIdentityHeader, "is only for the App Service endpoint: set endpoint too, or remove it")
	}
	imdsFrom := optIMDSEndpoint
	if imds == "" {
		if host := cfg.Environment[envPodIdentityHost]; !host.IsZero() {
			imds, imdsFrom = strings.TrimRight(host.Reveal(), "/")+imdsPath, ""
			if u, err := url.Parse(imds); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ce.Add("", "%s must be an http or https URL like http://127.0.0.1:2579", envPodIdentityHost)
			}
		}
	}
	if imds == "" && imdsFallback != "" {
		imds, imdsFrom = imdsFallback, ""
	}
	st.imdsEndpoint = defaultIMDSEndpoint
	var imdsTarget *url.URL
	if imds != "" {
		if imdsFrom != "" {
			checkURL(imds, imdsFrom, ce)
		}
		if imds != defaultIMDSEndpoint {
			imdsTarget, _ = url.Parse(imds)
			st.imdsEndpoint = imds
		}
	}
	if v := strings.TrimSpace(o[optProbeTimeout]); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond || d > maxProbeTimeout {
			ce.Add(optProbeTimeout, "must be a duration between 1ms and 1m, like 2s or 500ms")
		}
		st.probeTimeout = d
	}
	envMu.Lock()
	st.source = detectSource(st.env)
	envMu.Unlock()
	if st.source != managedidentity.DefaultToIMDS {
		imdsTarget = nil // only IMDS requests are redirected
	}
	hc, err := newHTTPClient(cfg.CACertificates, st.source, imdsTarget)
	if err != nil {
		ce.Add("ca_file", "%v", err)
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	st.http = hc
	if st.source == managedidentity.DefaultToIMDS {
		tagFile := defaultAssetTagFile
		if v := cfg.Environment[envAssetTagFile]; !v.IsZero() {
			tagFile = v.Reveal()
		}
		st.vm, st.evidence = azureVM(tagFile)
	}
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("source", string(st.source)).Str("identity", st.identity).Msg("configured")
	return nil
}

// selectIdentity sets st's identity from at most one of client_id,
// object_id and resource_id. A conflict is reported on the later keys, so
// that the host places it under this flow's section.
func selectIdentity(st *state, o map[string]string, ce *sdk.ConfigError) {
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
}

// checkURL checks that raw is an http(s) URL with a host.
func checkURL(raw, key string, ce *sdk.ConfigError) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ce.Add(key, "must be an http or https URL")
	}
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
	if err := st.available(ctx); err != nil {
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
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("source", string(st.source)).Str("identity", st.identity).
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

// available decides whether a managed identity can be here, from local
// evidence first: a source's variables (App Service, Arc, Cloud Shell,
// Service Fabric, Azure ML set them), else the DMI asset tag, which says
// whether this is an Azure VM without a packet sent. Only where neither
// says (no DMI) is IMDS probed. Off Azure on Linux this costs a file
// read, not MSAL's retries against an address that may swallow packets.
func (st *state) available(ctx context.Context) error {
	if st.source != managedidentity.DefaultToIMDS {
		return nil
	}
	switch st.vm {
	case vmAzure:
		return nil
	case vmNotAzure:
		e := sdk.Unavailable(flowName, "no managed identity here: none of %s is set, and %s", strings.Join([]string{envIdentityEndpoint, envMSIEndpoint}, ", "), st.evidence)
		e.Hint = "outside Azure this is expected; on Azure App Service, Functions, Arc, Cloud Shell or Service Fabric the platform sets IDENTITY_ENDPOINT or MSI_ENDPOINT: check that they reach credhost"
		return e
	}
	return st.probe(ctx)
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
	applyEnv(st.env)
	c, err := managedidentity.New(st.id, managedidentity.WithHTTPClient(st.http))
	if err != nil {
		return nil, sdk.Failed(flowName, "%v", err)
	}
	st.client = &c
	return st.client, nil
}

// acquire asks MSAL for a token. Every source but IMDS builds its request
// from the variables, so it holds envMu: concurrent requests of one
// process take turns.
func (st *state) acquire(ctx context.Context, c *managedidentity.Client, scope string, opts []managedidentity.AcquireTokenOption) (managedidentity.AuthResult, error) {
	if st.source != managedidentity.DefaultToIMDS {
		envMu.Lock()
		defer envMu.Unlock()
		applyEnv(st.env)
	}
	return c.AcquireToken(ctx, scope, opts...)
}

// classify turns an MSAL error into an *sdk.Error. The MSAL error is kept
// as text only (%v): its request carries the identity header.
func (st *state) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: fmt.Errorf("%w: %v", ctx.Err(), err)}
	}
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil {
		var ne net.Error
		if errors.As(err, &ne) {
			// The variables named an endpoint that does not answer (or
			// IMDS went away): nothing to get a token from here.
			e := sdk.Unavailable(flowName, "the %s identity endpoint did not answer: %v", st.source, err)
			e.Hint = "check the identity endpoint variables (IDENTITY_ENDPOINT, MSI_ENDPOINT) or the endpoint option"
			return e
		}
		return sdk.Failed(flowName, "%s: %v", st.source, err)
	}
	imds := st.source == managedidentity.DefaultToIMDS
	e := sdk.Failed(flowName, "%s answered %d: %v", st.source, ce.Resp.StatusCode, err)
	switch status := ce.Resp.StatusCode; {
	case imds && status == 400:
		// IMDS answers 400 when the machine has no such identity: it
		// cannot run here, as azidentity also decides.
		e.Kind = sdk.KindUnavailable
		e.Hint = "this machine has no such managed identity: assign it (or enable the system-assigned one), or check client_id, object_id or resource_id"
	case !imds && (status == 401 || status == 403):
		e.Hint = "the identity endpoint refused the identity header: check IDENTITY_HEADER (or identity_header) is the app's own value"
	case !imds && status == 400:
		e.Hint = "check client_id, object_id or resource_id: the identity must be assigned to this resource"
	}
	return e
}

// Check implements sdk.Checker for `credhost doctor`, without a network
// call: a source's variables or the DMI asset tag say whether a managed
// identity can be here; where neither does, only a probe could tell.
func (f *flow) Check(context.Context, sdk.Services) error {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Unavailable(flowName, "not configured")
	}
	if st.source == managedidentity.DefaultToIMDS && st.vm == vmNotAzure {
		return st.available(context.Background())
	}
	return nil
}

// Interface guards.
var (
	_ sdk.Flow    = (*flow)(nil)
	_ sdk.Checker = (*flow)(nil)
)
