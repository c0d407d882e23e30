package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/internal/federation"
	"github.com/credhost/credhost/internal/httpclient"
	"github.com/credhost/credhost/internal/publicclient"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/msalerr"
)

// Flow identity.
const (
	flowName    = "ropc"
	flowVersion = "0.1.0"
)

// Options of the flow.
const (
	optUsername = "username"
	optPassword = "password" // secret
)

// forbiddenTenants: personal accounts cannot use ROPC, and "common" would
// let one reach them; a work tenant or "organizations" is required.
var forbiddenTenants = []string{"common", "consumers"}

// deprecationWarning is logged on every use.
const deprecationWarning = "ropc: the username/password flow (ROPC) is deprecated and not recommended: " +
	"the password goes through this program, it bypasses the MFA-capable sign-in (accounts with MFA or conditional access cannot use it), " +
	"and Microsoft is retiring it; use devicecode or authcode (interactive) or iwa (Kerberos) instead"

// newFlow returns the ROPC flow, unconfigured.
func newFlow() sdk.Flow { return &flow{newHTTP: httpclient.New} }

// flow signs a user in with a username and password through MSAL's
// AcquireTokenByUsernamePassword, which asks Entra ID's user realm
// endpoint first: for a managed user it sends the password grant; for a
// federated one it does WS-Trust usernamemixed with the federation server
// (AD FS) and redeems the SAML assertion itself. So this flow needs no
// WS-Trust code of its own; it uses internal/federation only to classify
// the federation server's SOAP faults, which MSAL returns as bare HTTP
// errors. Tokens go to the host's cache, so later calls are silent. It is
// safe for concurrent use.
type flow struct {
	// newHTTP builds the HTTP client to the IdP; tests wrap it.
	newHTTP func(extraRootsPEM []byte) (*http.Client, error)

	mu    sync.Mutex
	state *state
}

type state struct {
	username string
	password sdk.Secret
	client   *publicclient.Client
}

// Describe implements sdk.Flow.
func (f *flow) Describe() sdk.Description {
	return sdk.Description{
		Name:    flowName,
		Version: flowVersion,
		Options: []sdk.OptionSpec{
			{Name: optUsername, Help: "user principal name (user@domain) to sign in as"},
			{Name: optPassword, Secret: true, Help: "the user's password; give a reference (env:NAME or file:PATH), never the value"},
		},
		ForbiddenTenants: slices.Clone(forbiddenTenants),
	}
}

// Configure implements sdk.Flow: a username, a password (secret), and an
// authority naming a tenant or "organizations". No network I/O.
func (f *flow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	ce := &sdk.ConfigError{Flow: flowName}
	publicclient.CheckAuthority(flowName, cfg, forbiddenTenants, ce)
	for k := range cfg.Options {
		switch k {
		case optUsername:
		case optPassword:
			ce.Add(k, "is a secret: the host delivers it as a secret setting")
		default:
			ce.Add(k, "unknown option; ropc accepts %s and %s", optUsername, optPassword)
		}
	}
	for k := range cfg.Secrets {
		if k != optPassword {
			ce.Add(k, "unknown secret setting; ropc accepts %s", optPassword)
		}
	}
	user := strings.TrimSpace(cfg.Options[optUsername])
	switch {
	case user == "":
		ce.Add(optUsername, "is required")
	case !strings.Contains(user, "@"):
		ce.Add(optUsername, "%q is not a user principal name (user@domain)", user)
	}
	pw := cfg.Secrets[optPassword]
	if pw.IsZero() {
		ce.Add(optPassword, "is required (env:NAME or file:PATH)")
	}
	hc, err := f.newHTTP(cfg.CACertificates)
	if err != nil {
		ce.Add("ca_file", "%v", err)
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	client, err := publicclient.New(flowName, cfg, hc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = &state{username: user, password: pw, client: client}
	f.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("client_id", cfg.ClientID).Msg("configured")
	return nil
}

// GetToken implements sdk.Flow: silently from the host's cache when it
// can, else with the password. Every call logs the deprecation warning.
func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, host sdk.Services) (sdk.Token, error) {
	zerolog.Ctx(ctx).Warn().Str("flow", flowName).Msg(deprecationWarning)
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Token{}, sdk.Unavailable(flowName, "not configured")
	}
	scopes, err := publicclient.Scopes(flowName, req)
	if err != nil {
		return sdk.Token{}, err
	}
	if err := publicclient.CheckTenant(flowName, req.TenantID, forbiddenTenants); err != nil {
		return sdk.Token{}, err
	}
	ctx = publicclient.WithCache(ctx, host.Cache)
	tok, err := st.client.Silent(ctx, req, scopes, st.username)
	if err == nil || !errors.Is(err, publicclient.ErrInteractionNeeded) {
		return tok, err
	}
	var opts []public.AcquireByUsernamePasswordOption
	if c := publicclient.Claims(req, err); c != "" {
		opts = append(opts, public.WithClaims(c))
	}
	if req.TenantID != "" {
		opts = append(opts, public.WithTenantID(req.TenantID))
	}
	//lint:ignore SA1019 this flow exists to offer ROPC, and warns on every use.
	res, err := st.client.MSAL().AcquireTokenByUsernamePassword(ctx, scopes, st.username, st.password.Reveal(), opts...) //nolint:staticcheck
	if err != nil {
		return sdk.Token{}, classify(err)
	}
	return st.client.SignedIn(ctx, res), nil
}

// classify turns MSAL's error into a core error. A federation server's
// SOAP fault reaches us as an HTTP error whose body is the fault; it is
// classified as such (a wrong password is AADSTS50126 for federated users
// too). Everything else is an Entra ID answer or a transport failure.
func classify(err error) error {
	var call msalerrors.CallErr
	if errors.As(err, &call) && call.Resp != nil && call.Resp.Body != nil {
		body, _ := io.ReadAll(io.LimitReader(call.Resp.Body, federation.MaxDocumentSize))
		call.Resp.Body = io.NopCloser(bytes.NewReader(body))
		if f, ok := federation.ParseFault(body); ok {
			return federation.Classify(flowName, f)
		}
	}
	return msalerr.Classify(flowName, err)
}

// Interface guards.
var _ sdk.Flow = (*flow)(nil)
