package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/credhost/credhost/sdk"
)

// Flow identity.
const (
	flowName    = "githuboidc"
	flowVersion = "0.2.0"
)

// Option keys of [profiles.<name>.githuboidc].
const optAudience = "audience"

// The variables GitHub Actions sets in a job with `permissions: id-token:
// write`. The plugin runs with the host's curated environment, so it
// names them in Describe and gets them in FlowConfig.Environment.
const (
	envRequestURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	envRequestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// defaultAudience is the audience Entra ID expects in a federated
// credential's assertion.
const defaultAudience = "api://AzureADTokenExchange"

// maxIDTokenResponse bounds what the token-request endpoint may send.
const maxIDTokenResponse = 64 << 10

// newFlow returns the flow, unconfigured.
func newFlow() sdk.Flow { return &flow{} }

// flow is safe for concurrent use: Configure swaps an immutable state.
type flow struct {
	mu    sync.Mutex
	state *state
}

type state struct {
	cfg          sdk.FlowConfig
	audience     string
	requestURL   string
	requestToken sdk.Secret
	http         *http.Client
	client       confidential.Client
}

// Describe implements sdk.Flow.
func (f *flow) Describe() sdk.Description {
	return sdk.Description{
		Name:    flowName,
		Version: flowVersion,
		Options: []sdk.OptionSpec{
			{Name: optAudience, Help: "audience of the GitHub OIDC token, as in the app's federated credential (default " + defaultAudience + ")"},
		},
		Environment: []string{envRequestURL, envRequestToken},
	}
}

// Configure implements sdk.Flow. The profile's authority and client_id
// are the Entra app that trusts the repository. No network.
func (f *flow) Configure(_ context.Context, cfg sdk.FlowConfig) error {
	ce := &sdk.ConfigError{Flow: flowName}
	if cfg.Authority == "" {
		ce.Add("authority", "the Entra authority is required, e.g. https://login.microsoftonline.com/<tenant id>")
	}
	if cfg.ClientID == "" {
		ce.Add("client_id", "the client id of the app whose federated credential trusts the repository is required")
	}
	st := &state{cfg: cfg, audience: defaultAudience}
	if v := strings.TrimSpace(cfg.Options[optAudience]); v != "" {
		st.audience = v
	}
	if v := cfg.Environment[envRequestURL]; !v.IsZero() {
		u, err := url.Parse(v.Reveal())
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			ce.Add("", "%s is not an http(s) URL", envRequestURL)
		}
		st.requestURL = v.Reveal()
	}
	st.requestToken = cfg.Environment[envRequestToken]
	hc, err := newHTTPClient(cfg.CACertificates)
	if err != nil {
		ce.Add("ca_file", "%v", err)
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	st.http = hc
	if st.client, err = st.newClient(); err != nil {
		ce.Add("authority", "%v", err)
		return ce
	}
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	return nil
}

// newClient builds an MSAL confidential client whose assertion is a fresh
// GitHub OIDC token each time MSAL asks Entra for a token. Instance
// discovery is off: the profile's authority is used as written.
func (st *state) newClient() (confidential.Client, error) {
	cred := confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
		return st.idToken(ctx)
	})
	return confidential.New(st.cfg.Authority, st.cfg.ClientID, cred,
		confidential.WithHTTPClient(st.http), confidential.WithInstanceDiscovery(false))
}

// GetToken implements sdk.Flow.
func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, _ sdk.Services) (sdk.Token, error) {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Token{}, sdk.Unavailable(flowName, "not configured")
	}
	if err := st.inActions(); err != nil {
		return sdk.Token{}, err
	}
	client := st.client
	if req.ForceRefresh {
		// A client of its own has an empty cache: MSAL asks Entra.
		c, err := st.newClient()
		if err != nil {
			return sdk.Token{}, sdk.Failed(flowName, "%v", err)
		}
		client = c
	}
	var opts []confidential.AcquireByCredentialOption
	if req.TenantID != "" {
		opts = append(opts, confidential.WithTenantID(req.TenantID))
	}
	if req.Claims != "" {
		opts = append(opts, confidential.WithClaims(req.Claims))
	}
	res, err := client.AcquireTokenByCredential(ctx, req.NormalizedScopes(), opts...)
	if err != nil {
		return sdk.Token{}, classify(ctx, err)
	}
	return sdk.Token{
		AccessToken: sdk.NewSecret(res.AccessToken),
		TokenType:   "Bearer",
		ExpiresOn:   res.ExpiresOn,
		RefreshOn:   res.Metadata.RefreshOn,
		Flow:        flowName,
	}, nil
}

// inActions says whether this is a GitHub Actions job allowed to ask for
// an OIDC token.
func (st *state) inActions() error {
	if st.requestURL == "" || st.requestToken.IsZero() {
		e := sdk.Unavailable(flowName, "not in a GitHub Actions job that may ask for an OIDC token (%s and %s are not both set)", envRequestURL, envRequestToken)
		e.Hint = "give the job `permissions: id-token: write`; outside GitHub Actions this is expected"
		return e
	}
	return nil
}

// idTokenError is a refusal of the token-request endpoint.
type idTokenError struct{ status int }

func (e *idTokenError) Error() string {
	return fmt.Sprintf("the GitHub OIDC token request was refused (%d)", e.status)
}

// idToken asks GitHub for the job's OIDC token for st.audience.
func (st *state) idToken(ctx context.Context) (string, error) {
	u, err := url.Parse(st.requestURL)
	if err != nil {
		return "", fmt.Errorf("%s: %w", envRequestURL, err)
	}
	q := u.Query()
	q.Set("audience", st.audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "bearer "+st.requestToken.Reveal())
	req.Header.Set("Accept", "application/json")
	resp, err := st.http.Do(req)
	if err != nil {
		// The URL holds no secret, but *url.Error repeats it: say only
		// what failed.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("GitHub OIDC token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIDTokenResponse+1))
	if err != nil {
		return "", fmt.Errorf("GitHub OIDC token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", &idTokenError{status: resp.StatusCode}
	}
	if len(body) > maxIDTokenResponse {
		return "", errors.New("GitHub OIDC token response is too large")
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", errors.New("GitHub OIDC token response holds no token (want {\"value\": \"<JWT>\"})")
	}
	return v.Value, nil
}

// classify turns an MSAL (or token-request) error into an *sdk.Error.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: fmt.Errorf("%w: %v", ctx.Err(), err)}
	}
	e := sdk.Failed(flowName, "%v", err)
	var ie *idTokenError
	var ce msalerrors.CallErr
	switch {
	case errors.As(err, &ie):
		e.Hint = "the job's token-request token was refused: the job needs `permissions: id-token: write`, and the token is valid for that job only"
	case errors.As(err, &ce) && ce.Resp != nil:
		e.Hint = "check the app's federated credential: issuer https://token.actions.githubusercontent.com, the subject of this job (repo:<owner>/<repo>:…) and audience " + defaultAudience
	}
	return e
}

// Check implements the optional checker of `credhost doctor`: whether
// this is a GitHub Actions job that may ask for a token. No network.
func (f *flow) Check(context.Context, sdk.Services) error {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Unavailable(flowName, "not configured")
	}
	return st.inActions()
}

// newHTTPClient trusts the system roots plus caPEM (the profile's
// ca_file), with bounded dial and handshake; calls are bounded by their
// context.
func newHTTPClient(caPEM []byte) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if len(caPEM) > 0 && !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no PEM certificate in the CA file")
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
	}}, nil
}

// Interface guard.
var _ sdk.Flow = (*flow)(nil)
