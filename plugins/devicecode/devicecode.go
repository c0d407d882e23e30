package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/internal/httpclient"
	"github.com/credhost/credhost/internal/publicclient"
	"github.com/credhost/credhost/sdk"
)

// Flow identity.
const (
	flowName    = "devicecode"
	flowVersion = "0.1.0"
)

// forbiddenTenants name no tenant, or only personal accounts: a device
// code sign-in needs a tenant or "organizations".
var forbiddenTenants = []string{"common", "consumers"}

// newFlow returns the device code flow, unconfigured.
func newFlow() sdk.Flow { return &flow{newHTTP: httpclient.New} }

// flow is the OAuth 2.0 device authorization grant (RFC 8628) for a
// public client: the user signs in on another device with a code shown
// through the host's UI. Tokens and the refresh token go to the host's
// cache, so later calls are silent. It is safe for concurrent use:
// Configure swaps an immutable state; GetToken works on a snapshot.
type flow struct {
	// newHTTP builds the HTTP client to the IdP; tests wrap it.
	newHTTP func(extraRootsPEM []byte) (*http.Client, error)

	mu    sync.Mutex
	state *state // nil until Configure succeeds
}

// state is one successful Configure.
type state struct {
	profile   string // for the hint to sign in with credhost login
	loginHint string
	client    *publicclient.Client
}

// Describe implements sdk.Flow.
func (f *flow) Describe() sdk.Description {
	return sdk.Description{
		Name:             flowName,
		Version:          flowVersion,
		Interactive:      true,
		Options:          []sdk.OptionSpec{publicclient.LoginHintOption()},
		ForbiddenTenants: slices.Clone(forbiddenTenants),
	}
}

// Configure implements sdk.Flow: it checks the authority (a tenant or
// "organizations") and the client id, and builds the MSAL client with an
// HTTP client whose transport polls by RFC 8628 (poll.go). No network
// I/O. On error the previous configuration (if any) stays in force.
func (f *flow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	ce := &sdk.ConfigError{Flow: flowName}
	publicclient.CheckAuthority(flowName, cfg, forbiddenTenants, ce)
	for k := range cfg.Options {
		if k != publicclient.OptLoginHint {
			ce.Add(k, "unknown option; devicecode accepts %s", publicclient.OptLoginHint)
		}
	}
	for k := range cfg.Secrets {
		ce.Add(k, "devicecode takes no secret settings")
	}
	hc, err := f.newHTTP(cfg.CACertificates)
	if err != nil {
		ce.Add("ca_file", "%v", err)
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	hc = httpclient.Wrap(hc, func(base http.RoundTripper) http.RoundTripper { return &pollTransport{base: base} })
	client, err := publicclient.New(flowName, cfg, hc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = &state{profile: cfg.Profile, loginHint: strings.TrimSpace(cfg.Options[publicclient.OptLoginHint]), client: client}
	f.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("client_id", cfg.ClientID).Msg("configured")
	return nil
}

// GetToken implements sdk.Flow. It answers from the host's cache when it
// can (a cached access token, else the refresh token); otherwise it asks
// for a device code, shows it through host.UI before polling starts, and
// polls until the user has signed in, the code expires or ctx ends.
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
	ctx = publicclient.WithCache(ctx, host.Cache)
	tok, err := st.client.Silent(ctx, req, scopes, st.loginHint)
	if err == nil || !errors.Is(err, publicclient.ErrInteractionNeeded) {
		return tok, err
	}
	zerolog.Ctx(ctx).Debug().Str("flow", flowName).Str("reason", err.Error()).Msg("signing in with a device code")
	return st.signIn(ctx, req, scopes, publicclient.Claims(req, err), host.UI)
}

// signIn runs the device code grant: device code, prompt, polling.
func (st *state) signIn(ctx context.Context, req sdk.TokenRequest, scopes []string, claims string, ui sdk.UI) (sdk.Token, error) {
	if !sdk.CanPrompt(ui) {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName,
			Err:  errors.New("a device code sign-in needs someone to show the code to, and the host has no UI"),
			Hint: publicclient.NoUIHint(st.profile)}
	}
	var opts []public.AcquireByDeviceCodeOption
	if claims != "" {
		opts = append(opts, public.WithClaims(claims))
	}
	if req.TenantID != "" {
		opts = append(opts, public.WithTenantID(req.TenantID))
	}
	msal := st.client.MSAL()
	dc, err := msal.AcquireTokenByDeviceCode(ctx, scopes, opts...)
	if err != nil {
		return sdk.Token{}, publicclient.Classify(flowName, err)
	}
	r := dc.Result
	// The prompt goes out before the first poll, which waits an interval.
	p := newPoll(time.Duration(r.Interval)*time.Second, r.ExpiresOn)
	if err := ui.Prompt(ctx, sdk.Prompt{Message: r.Message, VerificationURI: r.VerificationURL, UserCode: r.UserCode, ExpiresOn: r.ExpiresOn}); err != nil {
		return sdk.Token{}, &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName, Err: fmt.Errorf("showing the device code: %w", err)}
	}
	res, err := dc.AuthenticationResult(withPoll(ctx, p))
	polls, slowDowns, interval := p.stats()
	log := zerolog.Ctx(ctx).Debug().Str("flow", flowName).Int("polls", polls).Int("slow_downs", slowDowns).Dur("interval", interval)
	if err != nil {
		ferr := pollError(ctx, p, r, err)
		ui.Progress(ctx, "device code sign-in ended without a token")
		log.Str("kind", sdk.KindOf(ferr).String()).Msg("device code polling stopped")
		return sdk.Token{}, ferr
	}
	tok := st.client.SignedIn(ctx, res)
	ui.Progress(ctx, "signed in as "+tok.Account.Username)
	log.Msg("device code sign-in complete")
	return tok, nil
}

// pollError explains why polling gave no token.
func pollError(ctx context.Context, p *poll, r public.DeviceCodeResult, err error) error {
	if ctx.Err() != nil {
		return publicclient.Classify(flowName, ctx.Err())
	}
	e := &sdk.Error{}
	classified := publicclient.Classify(flowName, err)
	if !errors.As(classified, &e) {
		return classified
	}
	switch {
	case errors.Is(err, errCodeExpired) || e.OAuthCode == "expired_token" || p.hasExpired():
		code := e.Code
		if e.OAuthCode != "expired_token" {
			code = 0
		}
		return &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Code: code, OAuthCode: "expired_token", CorrelationID: e.CorrelationID,
			Err: fmt.Errorf("the device code expired at %s before anyone signed in with it", r.ExpiresOn.Local().Format("15:04:05")),
			Hint: fmt.Sprintf("run the command again, then open %s and enter the new code within %s",
				r.VerificationURL, humanDuration(p.lifetime))}
	case e.OAuthCode == "authorization_declined":
		e.Hint = "the sign-in was declined on the verification page; run the command again to get a new code"
	case e.OAuthCode == "bad_verification_code":
		e.Hint = "the identity provider did not recognise the device code; run the command again"
	}
	return e
}

// humanDuration says d the way a person would: "15 minutes", "40 seconds".
func humanDuration(d time.Duration) string {
	switch {
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d.Round(time.Minute).Minutes()))
	case d >= time.Minute:
		return "a minute"
	default:
		return fmt.Sprintf("%d seconds", max(int(d.Round(time.Second).Seconds()), 1))
	}
}

// Interface guards.
var _ sdk.Flow = (*flow)(nil)
