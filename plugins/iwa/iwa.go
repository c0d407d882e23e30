package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

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
	flowName    = "iwa"
	flowVersion = "0.1.0"
)

// optUsername names the account when it differs from what the Kerberos
// principal implies.
const optUsername = "username"

// forbiddenTenants name no tenant, or only personal accounts, which
// cannot be federated: IWA needs a work tenant or "organizations".
var forbiddenTenants = []string{"common", "consumers"}

// newFlow returns the IWA flow, unconfigured.
func newFlow() sdk.Flow { return &flow{newHTTP: httpclient.New, env: osEnv()} }

// flow is Integrated Windows Authentication for Linux and macOS (MSAL Go
// has none, its issue #30): the user's Kerberos ticket proves who they
// are to their federation server (AD FS) at its WS-Trust windowstransport
// endpoint, whose SAML assertion Entra ID exchanges for tokens. Nothing is
// asked of the user. Tokens and the refresh token go to the host's cache,
// so later calls are silent. It is safe for concurrent use: Configure
// swaps an immutable state; GetToken works on a snapshot.
type flow struct {
	// newHTTP builds the HTTP client to Entra ID and the federation
	// server; tests wrap it.
	newHTTP func(extraRootsPEM []byte) (*http.Client, error)
	// env reads KRB5CCNAME/KRB5_CONFIG, the uid and the clock; tests
	// replace it.
	env env

	mu    sync.Mutex
	state *state
}

// state is one successful Configure.
type state struct {
	authority string
	username  string
	client    *publicclient.Client
	fed       *federation.Client
}

// Describe implements sdk.Flow.
func (f *flow) Describe() sdk.Description {
	return sdk.Description{
		Name:    flowName,
		Version: flowVersion,
		Options: []sdk.OptionSpec{{Name: optUsername,
			Help: "user principal name (user@domain) to sign in as; default: the Kerberos ticket's principal with its realm in lower case"}},
		ForbiddenTenants: slices.Clone(forbiddenTenants),
	}
}

// Configure implements sdk.Flow: it checks the authority (a tenant or
// "organizations"), the client id and the options, and builds the MSAL
// client. No network I/O, and no Kerberos files are read: a ticket can
// appear or expire between calls.
func (f *flow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	ce := &sdk.ConfigError{Flow: flowName}
	publicclient.CheckAuthority(flowName, cfg, forbiddenTenants, ce)
	for k := range cfg.Options {
		if k != optUsername {
			ce.Add(k, "unknown option; iwa accepts %s", optUsername)
		}
	}
	for k := range cfg.Secrets {
		ce.Add(k, "iwa takes no secret settings: the Kerberos ticket is the credential")
	}
	user := strings.TrimSpace(cfg.Options[optUsername])
	if user != "" && !strings.Contains(user, "@") {
		ce.Add(optUsername, "%q is not a user principal name (user@domain)", user)
	}
	hc, err := f.newHTTP(cfg.CACertificates)
	if err != nil {
		ce.Add("ca_file", "%v", err)
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	msalHTTP := httpclient.Wrap(hc, func(base http.RoundTripper) http.RoundTripper { return &samlGrantTransport{base: base} })
	client, err := publicclient.New(flowName, cfg, msalHTTP)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = &state{authority: cfg.Authority, username: user, client: client, fed: federation.NewClient(hc, nil)}
	f.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("client_id", cfg.ClientID).Msg("configured")
	return nil
}

// GetToken implements sdk.Flow. It answers from the host's cache when it
// can (a cached access token, else the refresh token). Otherwise it signs
// in with the Kerberos ticket: user realm (must be Federated), MEX
// (windowstransport endpoint), WS-Trust with HTTP Negotiate, SAML bearer
// grant. Without a usable ticket it is unavailable at once, before any
// network I/O, so a chain moves on quickly.
func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, host sdk.Services) (sdk.Token, error) {
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
	log := zerolog.Ctx(ctx)
	krb, krbErr := loadKerberos(f.env)
	username := st.username
	if username == "" && krbErr == nil {
		username = krb.upn()
	}
	ctx = publicclient.WithCache(ctx, host.Cache)
	tok, err := st.client.Silent(ctx, req, scopes, username)
	if err == nil || !errors.Is(err, publicclient.ErrInteractionNeeded) {
		return tok, err
	}
	if krbErr != nil {
		log.Debug().Str("flow", flowName).Str("reason", krbErr.Error()).Msg("no Kerberos ticket; unavailable")
		return sdk.Token{}, unavailable(krbErr)
	}
	log.Debug().Str("flow", flowName).Str("principal", krb.principal).Str("username", username).Msg("signing in with the Kerberos ticket")
	return st.signIn(ctx, req, scopes, username, krb, publicclient.Claims(req, err))
}

// signIn runs the federated sign-in with the Kerberos ticket.
func (st *state) signIn(ctx context.Context, req sdk.TokenRequest, scopes []string, username string, krb *kerberos, claims string) (sdk.Token, error) {
	realm, err := st.fed.UserRealm(ctx, st.authority, username)
	if err != nil {
		return sdk.Token{}, federation.Classify(flowName, err)
	}
	switch realm.AccountType {
	case federation.Federated:
	case federation.Managed:
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName,
			Err:  fmt.Errorf("%s is a managed (cloud-only) account: Integrated Windows Authentication needs a federated domain", username),
			Hint: "sign in with another flow (devicecode, authcode); if the Kerberos principal maps to another account, set the username option"}
	default:
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName,
			Err:  fmt.Errorf("Entra ID does not know the domain of %s", username),
			Hint: "set the username option to the account's user principal name"}
	}
	eps, err := st.fed.MEX(ctx, realm.FederationMetadataURL)
	if err != nil {
		return sdk.Token{}, federation.Classify(flowName, err)
	}
	ep := eps.WindowsTransport
	if ep.IsZero() {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName,
			Err:  errors.New("the federation server publishes no windowstransport endpoint (Windows authentication is off)"),
			Hint: "ask the AD FS administrator to enable the WS-Trust windowstransport endpoint, or use another flow"}
	}
	u, _ := url.Parse(ep.URL)
	// The service principal names the host exactly as in the URL: no DNS
	// canonicalization, which would need the network and could be spoofed.
	spn := "HTTP/" + strings.ToLower(u.Hostname())
	a, err := st.fed.RequestSecurityToken(ctx, ep, federation.RSTRequest{
		AppliesTo: realm.AppliesTo(),
		Authorize: func(r *http.Request) error { return krb.negotiate(ctx, r, spn) },
	})
	if err != nil {
		var he *federation.HTTPError
		switch {
		case errors.Is(err, errNoKerberos):
			return sdk.Token{}, unavailable(err)
		case errors.As(err, &he) && he.Status == http.StatusUnauthorized:
			return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName,
				Err:  fmt.Errorf("the federation server did not accept the Kerberos ticket of %s for %s", krb.principal, spn),
				Hint: "check that " + spn + " is the service principal of the AD FS farm and that the ticket's realm is trusted by it"}
		}
		return sdk.Token{}, federation.Classify(flowName, err)
	}
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("saml", a.Version.String()).Msg("federation server issued an assertion")
	var opts []public.AcquireByAuthCodeOption
	if claims != "" {
		opts = append(opts, public.WithClaims(claims))
	}
	if req.TenantID != "" {
		opts = append(opts, public.WithTenantID(req.TenantID))
	}
	res, err := st.client.MSAL().AcquireTokenByAuthCode(withSAMLGrant(ctx, a), samlCodePlaceholder, samlRedirectURI, scopes, opts...)
	if err != nil {
		return sdk.Token{}, msalerr.Classify(flowName, err)
	}
	return st.client.SignedIn(ctx, res), nil
}

// Check implements sdk.Checker: IWA can run when the local Kerberos
// state holds an unexpired ticket. It reads local files only.
func (f *flow) Check(ctx context.Context, _ sdk.Services) error {
	if _, err := loadKerberos(f.env); err != nil {
		return unavailable(err)
	}
	return nil
}

// unavailable turns a Kerberos problem into the chain's "move on".
func unavailable(err error) error {
	e := &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName, Err: err}
	var ke *kerberosError
	if errors.As(err, &ke) {
		e.Hint = ke.hint
	}
	return e
}

// Interface guards.
var (
	_ sdk.Flow    = (*flow)(nil)
	_ sdk.Checker = (*flow)(nil)
)
