package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/internal/clientauth"
	"github.com/credhost/credhost/internal/msalcache"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/msalerr"
)

// Flow identity.
const (
	flowName    = "clientcreds"
	flowVersion = "0.1.0"
)

// cacheKey names the flow's MSAL cache in log lines. The flow keeps no
// state in the host's cache partition: an app-only token needs nothing
// but the credential, and the host's own token cache already keeps every
// token it returned (by profile, authority, client, scopes and tenant) and
// answers from it before asking the flow. So MSAL's cache lives in the
// plugin's memory only, and a call ships no cache blob to the plugin and
// back.
const cacheKey = ""

// newFlow returns the client credentials flow, unconfigured.
func newFlow() sdk.Flow { return &flow{} }

// flow is the OAuth 2.0 client credentials grant (app-only tokens) with any
// client authentication clientauth supports. It is safe for concurrent use:
// Configure swaps an immutable state; GetToken works on a snapshot.
type flow struct {
	mu    sync.Mutex
	state *state // nil until Configure succeeds
}

// state is one successful Configure: the settings, the credential, and the
// MSAL client built on first use.
type state struct {
	cfg  sdk.FlowConfig
	cred confidential.Credential
	http *http.Client

	once    sync.Mutex
	client  *confidential.Client
	adapter *msalcache.Adapter
}

// Describe implements sdk.Flow.
func (f *flow) Describe() sdk.Description {
	return sdk.Description{
		Name:             flowName,
		Version:          flowVersion,
		Interactive:      false,
		Options:          clientauth.Options(),
		ForbiddenTenants: slices.Clone(clientauth.MultiTenants),
	}
}

// Configure implements sdk.Flow: it checks the authority, client id and
// client authentication, and builds the HTTP client, without network I/O.
// On error the previous configuration (if any) stays in force.
func (f *flow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	cred, hc, err := clientauth.Setup(flowName, "the client credentials grant", cfg)
	if err != nil {
		return err
	}
	st := &state{cfg: cfg, cred: cred, http: hc}
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("client_id", cfg.ClientID).Msg("configured")
	return nil
}

// GetToken implements sdk.Flow. A token cached by MSAL (in this process's
// memory) is returned while it is valid, unless req.ForceRefresh or
// req.Claims asks for a new one. host.Cache is not used (see cacheKey).
// Errors are *sdk.Error; an unconfigured flow is Unavailable.
func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, _ sdk.Services) (sdk.Token, error) {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Token{}, clientauth.NotConfigured(flowName)
	}
	scopes := req.NormalizedScopes()
	if len(scopes) == 0 {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindFailed, Flow: flowName,
			Err:  errors.New("no scopes requested"),
			Hint: "client credentials need a resource scope ending in /.default, e.g. https://graph.microsoft.com/.default"}
	}
	client, err := st.msal()
	if err != nil {
		return sdk.Token{}, msalerr.Classify(flowName, err)
	}

	var opts []confidential.AcquireByCredentialOption
	if req.Claims != "" {
		// With claims MSAL skips its cache and asks the IdP.
		opts = append(opts, confidential.WithClaims(req.Claims))
	} else if req.ForceRefresh {
		ctx = msalcache.WithoutAccessTokens(ctx, st.cfg.ClientID, scopes)
	}
	if req.TenantID != "" {
		opts = append(opts, confidential.WithTenantID(req.TenantID))
	}
	// In MSAL Go, AcquireTokenSilent of a confidential client needs an
	// account; for app-only tokens AcquireTokenByCredential looks in the
	// cache first and only then calls the token endpoint.
	start := time.Now()
	res, err := client.AcquireTokenByCredential(ctx, scopes, opts...)
	if err != nil {
		return sdk.Token{}, msalerr.Classify(flowName, err)
	}
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("tenant", req.TenantID).
		Strs("scopes", scopes).Bool("cache", res.Metadata.TokenSource == confidential.TokenSourceCache).
		Int64("duration_ms", time.Since(start).Milliseconds()).Msg("token acquired")
	if res.ExpiresOn.After(time.Now().Add(sdk.MaxTokenLifetime)) {
		// The host caps what it keeps; MSAL's memory must not go on
		// serving the token past that cap either.
		st.adapter.Trim()
	}
	return sdk.Token{
		AccessToken: sdk.NewSecret(res.AccessToken),
		TokenType:   "Bearer",
		ExpiresOn:   res.ExpiresOn,
		RefreshOn:   res.Metadata.RefreshOn,
		Flow:        flowName,
	}, nil
}

// msal returns the state's MSAL client, building it on first use. A failed
// build is retried by the next call.
func (s *state) msal() (*confidential.Client, error) {
	s.once.Lock()
	defer s.once.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	s.adapter = msalcache.New(nil, cacheKey, nil)
	c, err := clientauth.NewClient(s.cfg, s.cred, s.http, s.adapter)
	if err != nil {
		return nil, err
	}
	s.client = &c
	return s.client, nil
}

// Interface guards.
var _ sdk.Flow = (*flow)(nil)
