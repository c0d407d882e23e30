package plugin

// This is the only file where proto types meet core types.

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/credhost/credhost/core"
	pluginv1 "github.com/credhost/credhost/core/proto/credhost/plugin/v1"
	"github.com/credhost/credhost/internal/httpclient"
)

func descriptionToProto(d core.Description) *pluginv1.DescribeResponse {
	r := &pluginv1.DescribeResponse{
		Name:             d.Name,
		Version:          d.Version,
		Interactive:      d.Interactive,
		ForbiddenTenants: d.ForbiddenTenants,
		Environment:      d.Environment,
	}
	for _, o := range d.Options {
		r.Options = append(r.Options, &pluginv1.OptionSpec{Name: o.Name, Secret: o.Secret, Help: o.Help})
	}
	return r
}

func descriptionFromProto(r *pluginv1.DescribeResponse) core.Description {
	d := core.Description{
		Name:             r.GetName(),
		Version:          r.GetVersion(),
		Interactive:      r.GetInteractive(),
		ForbiddenTenants: r.GetForbiddenTenants(),
		Environment:      r.GetEnvironment(),
	}
	for _, o := range r.GetOptions() {
		d.Options = append(d.Options, core.OptionSpec{Name: o.GetName(), Secret: o.GetSecret(), Help: o.GetHelp()})
	}
	return d
}

func configToProto(c core.FlowConfig, cacheBroker uint32) *pluginv1.ConfigureRequest {
	r := &pluginv1.ConfigureRequest{
		Profile:        c.Profile,
		Authority:      c.Authority,
		ClientId:       c.ClientID,
		Options:        c.Options,
		CaCertificates: c.CACertificates,
		CacheBrokerId:  cacheBroker,
	}
	if len(c.Secrets) > 0 {
		r.Secrets = make(map[string][]byte, len(c.Secrets))
		for k, v := range c.Secrets {
			r.Secrets[k] = []byte(v.Reveal())
		}
	}
	if len(c.Environment) > 0 {
		r.Environment = make(map[string][]byte, len(c.Environment))
		for k, v := range c.Environment {
			r.Environment[k] = []byte(v.Reveal())
		}
	}
	return r
}

func configFromProto(r *pluginv1.ConfigureRequest) core.FlowConfig {
	c := core.FlowConfig{
		Profile:        r.GetProfile(),
		Authority:      r.GetAuthority(),
		ClientID:       r.GetClientId(),
		Options:        r.GetOptions(),
		CACertificates: r.GetCaCertificates(),
	}
	if c.Options == nil {
		c.Options = map[string]string{}
	}
	c.Secrets = make(map[string]core.Secret, len(r.GetSecrets()))
	for k, v := range r.GetSecrets() {
		c.Secrets[k] = core.NewSecret(string(v))
	}
	c.Environment = make(map[string]core.Secret, len(r.GetEnvironment()))
	for k, v := range r.GetEnvironment() {
		c.Environment[k] = core.NewSecret(string(v))
	}
	return c
}

// requestToProto encodes q for a plugin speaking protocol (0: the
// newest).
func requestToProto(q core.TokenRequest, protocol int) *pluginv1.GetTokenRequest {
	r := &pluginv1.GetTokenRequest{
		Scopes:        q.Scopes,
		TenantId:      q.TenantID,
		Claims:        q.Claims,
		UserAssertion: []byte(q.UserAssertion.Reveal()),
		Account:       q.Account,
		ForceRefresh:  q.ForceRefresh,
	}
	if c := q.AuthorizationCode; !c.IsZero() {
		if protocol != 0 && protocol < 3 {
			r.UserAssertion = legacyCodeAssertion(c)
		} else {
			r.AuthorizationCode = &pluginv1.AuthorizationCode{Code: []byte(c.Code.Reveal()), CodeVerifier: []byte(c.Verifier.Reveal()),
				RedirectUri: c.RedirectURI, Nonce: c.Nonce}
		}
	}
	return r
}

// legacyCodeAssertion is how protocols 1 and 2 carried a code: in
// user_assertion, as the JSON object authcode plugins of that time parse
// (versioned, so they tell it from an on-behalf-of token).
func legacyCodeAssertion(c core.AuthorizationCode) []byte {
	b, _ := json.Marshal(struct { // a struct of strings always marshals
		Version     int    `json:"credhost_authcode"`
		Code        string `json:"code"`
		Verifier    string `json:"code_verifier,omitempty"`
		RedirectURI string `json:"redirect_uri"`
		Nonce       string `json:"nonce,omitempty"`
	}{1, c.Code.Reveal(), c.Verifier.Reveal(), c.RedirectURI, c.Nonce})
	return b
}

func requestFromProto(r *pluginv1.GetTokenRequest) core.TokenRequest {
	q := core.TokenRequest{
		Scopes:        r.GetScopes(),
		TenantID:      r.GetTenantId(),
		Claims:        r.GetClaims(),
		UserAssertion: core.NewSecret(string(r.GetUserAssertion())),
		Account:       r.GetAccount(),
		ForceRefresh:  r.GetForceRefresh(),
	}
	if c := r.GetAuthorizationCode(); c != nil {
		q.AuthorizationCode = core.AuthorizationCode{Code: core.NewSecret(string(c.GetCode())), Verifier: core.NewSecret(string(c.GetCodeVerifier())),
			RedirectURI: c.GetRedirectUri(), Nonce: c.GetNonce()}
	}
	return q
}

func tokenToProto(t core.Token) *pluginv1.Token {
	return &pluginv1.Token{
		AccessToken: []byte(t.AccessToken.Reveal()),
		TokenType:   t.TokenType,
		ExpiresOn:   timeToProto(t.ExpiresOn),
		RefreshOn:   timeToProto(t.RefreshOn),
		Account: &pluginv1.Account{
			HomeAccountId: t.Account.HomeAccountID,
			Username:      t.Account.Username,
			TenantId:      t.Account.TenantID,
		},
	}
}

// tokenFromProto rejects a token event a host cannot use, so a buggy plugin
// is a clear error rather than an empty bearer token.
func tokenFromProto(flow string, p *pluginv1.Token) (core.Token, error) {
	if len(p.GetAccessToken()) == 0 {
		return core.Token{}, core.Failed(flow, "plugin returned a token event without an access token")
	}
	if p.GetExpiresOn() == nil {
		return core.Token{}, core.Failed(flow, "plugin returned a token without an expiry")
	}
	tt := p.GetTokenType()
	if tt == "" {
		tt = "Bearer"
	}
	a := p.GetAccount()
	return core.Token{
		AccessToken: core.NewSecret(string(p.GetAccessToken())),
		TokenType:   tt,
		ExpiresOn:   timeFromProto(p.GetExpiresOn()),
		RefreshOn:   timeFromProto(p.GetRefreshOn()),
		Account: core.Account{
			HomeAccountID: a.GetHomeAccountId(),
			Username:      a.GetUsername(),
			TenantID:      a.GetTenantId(),
		},
		Flow: flow,
	}, nil
}

func promptToProto(p core.Prompt) *pluginv1.Prompt {
	return &pluginv1.Prompt{
		Message:         p.Message,
		VerificationUri: p.VerificationURI,
		UserCode:        p.UserCode,
		ExpiresOn:       timeToProto(p.ExpiresOn),
	}
}

func promptFromProto(p *pluginv1.Prompt) core.Prompt {
	return core.Prompt{
		Message:         p.GetMessage(),
		VerificationURI: p.GetVerificationUri(),
		UserCode:        p.GetUserCode(),
		ExpiresOn:       timeFromProto(p.GetExpiresOn()),
	}
}

var kindToProto = map[core.Kind]pluginv1.ErrorKind{
	core.KindFailed:              pluginv1.ErrorKind_ERROR_KIND_FAILED,
	core.KindUnavailable:         pluginv1.ErrorKind_ERROR_KIND_UNAVAILABLE,
	core.KindInteractionRequired: pluginv1.ErrorKind_ERROR_KIND_INTERACTION_REQUIRED,
}

// errorToProto turns any error from a flow into an error event. An error
// that is not a *core.Error is a failure, never silently skipped.
func errorToProto(err error) *pluginv1.Error {
	var e *core.Error
	if !errors.As(err, &e) {
		return &pluginv1.Error{Kind: pluginv1.ErrorKind_ERROR_KIND_FAILED, Message: err.Error()}
	}
	msg := ""
	if e.Err != nil {
		msg = e.Err.Error()
	}
	return &pluginv1.Error{
		Kind:          kindToProto[e.Kind],
		Message:       msg,
		Aadsts:        int32(e.Code),
		OauthCode:     e.OAuthCode,
		CorrelationId: e.CorrelationID,
		TraceId:       e.TraceID,
		Hint:          e.Hint,
		Claims:        e.Claims,
	}
}

func errorFromProto(flow string, p *pluginv1.Error) *core.Error {
	k := core.KindFailed // ERROR_KIND_UNSPECIFIED and unknown values
	switch p.GetKind() {
	case pluginv1.ErrorKind_ERROR_KIND_UNAVAILABLE:
		k = core.KindUnavailable
	case pluginv1.ErrorKind_ERROR_KIND_INTERACTION_REQUIRED:
		k = core.KindInteractionRequired
	}
	var inner error
	if m := p.GetMessage(); m != "" {
		inner = errors.New(m)
	}
	return &core.Error{
		Kind:          k,
		Flow:          flow,
		Code:          int(p.GetAadsts()),
		OAuthCode:     p.GetOauthCode(),
		CorrelationID: p.GetCorrelationId(),
		TraceID:       p.GetTraceId(),
		Claims:        p.GetClaims(),
		Hint:          p.GetHint(),
		Err:           inner,
	}
}

func fieldErrorsToProto(err error) []*pluginv1.FieldError {
	var ce *core.ConfigError
	if errors.As(err, &ce) {
		out := make([]*pluginv1.FieldError, 0, len(ce.Fields))
		for _, f := range ce.Fields {
			out = append(out, &pluginv1.FieldError{Field: f.Field, Message: f.Message})
		}
		return out
	}
	return []*pluginv1.FieldError{{Message: err.Error()}}
}

func fieldErrorsFromProto(flow string, fs []*pluginv1.FieldError) error {
	if len(fs) == 0 {
		return nil
	}
	ce := &core.ConfigError{Flow: flow}
	for _, f := range fs {
		ce.Fields = append(ce.Fields, core.FieldError{Field: f.GetField(), Message: f.GetMessage()})
	}
	return ce
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// ErrTransport is wrapped by errors that come from the connection to the
// plugin (a crash, a lost stream), not from the flow: the host should
// replace the process.
var ErrTransport = errors.New("plugin connection failed")

// transportError names the plugin in a transport failure.
func transportError(flow, what string, err error) *core.Error {
	return &core.Error{Kind: core.KindFailed, Flow: flow, Err: fmt.Errorf("plugin %s: %w: %w", what, ErrTransport, err),
		Hint: "the plugin process failed or exited; run with --log-level=debug to see its log, or `credhost plugins verify`"}
}

func discoveryToProto(entries []httpclient.DiscoveryEntry) []*pluginv1.DiscoveryEntry {
	out := make([]*pluginv1.DiscoveryEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, &pluginv1.DiscoveryEntry{Url: e.URL, Body: e.Body, FetchedOn: timestamppb.New(e.FetchedOn)})
	}
	return out
}

func discoveryFromProto(entries []*pluginv1.DiscoveryEntry) []httpclient.DiscoveryEntry {
	out := make([]httpclient.DiscoveryEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, httpclient.DiscoveryEntry{URL: e.GetUrl(), Body: e.GetBody(), FetchedOn: e.GetFetchedOn().AsTime()})
	}
	return out
}
