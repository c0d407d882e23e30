package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/testkit/recui"
)

// fakeFlow exercises every part of the protocol.
type fakeFlow struct{ cfg core.FlowConfig }

func (f *fakeFlow) Describe() core.Description {
	return core.Description{Name: "fake", Version: "1.2.3", Interactive: true,
		Options:          []core.OptionSpec{{Name: "mode"}, {Name: "password", Secret: true}},
		ForbiddenTenants: []string{"common"}, Environment: []string{"IDENTITY_ENDPOINT"}}
}

func (f *fakeFlow) Configure(_ context.Context, cfg core.FlowConfig) error {
	ce := &core.ConfigError{Flow: "fake"}
	if cfg.Options["mode"] == "bad" {
		ce.Add("mode", "must not be bad")
	}
	f.cfg = cfg
	return ce.OrNil()
}

func (f *fakeFlow) GetToken(ctx context.Context, req core.TokenRequest, host core.Services) (core.Token, error) {
	switch req.Scopes[0] {
	case "panic":
		panic("secret-in-panic-value")
	case "unavailable":
		return core.Token{}, core.Unavailable("fake", "no terminal")
	case "mfa":
		return core.Token{}, &core.Error{Kind: core.KindInteractionRequired, Code: 50076, Claims: `{"x":1}`, Hint: "use mfa", CorrelationID: "cid"}
	case "plain":
		return core.Token{}, errors.New("something odd")
	case "env":
		return core.Token{AccessToken: f.cfg.Environment["IDENTITY_ENDPOINT"], ExpiresOn: time.Now().Add(time.Hour)}, nil
	case "cache":
		b, err := host.Cache.Load(ctx, "k")
		if err != nil {
			return core.Token{}, err
		}
		if _, err := host.Cache.Save(ctx, "k", core.Blob{Data: append(b.Data, 'x'), Version: b.Version}); err != nil {
			return core.Token{}, err
		}
	}
	if err := host.UI.Prompt(ctx, core.Prompt{Message: "go to example", UserCode: "ABC"}); err != nil {
		return core.Token{}, err
	}
	host.UI.Progress(ctx, "polling")
	return core.Token{AccessToken: core.NewSecret("at-" + f.cfg.Secrets["password"].Reveal()), ExpiresOn: time.Now().Add(time.Hour),
		Account: core.Account{Username: "alice"}}, nil
}

func TestProtocolRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := TestConnect(t, &fakeFlow{}, zerolog.Nop())

	d, err := c.Describe(ctx)
	if err != nil || d.Name != "fake" || d.Version != "1.2.3" || !d.Interactive || len(d.Options) != 2 || !d.Options[1].Secret || d.ForbiddenTenants[0] != "common" ||
		len(d.Environment) != 1 || d.Environment[0] != "IDENTITY_ENDPOINT" {
		t.Fatalf("Describe = %+v, %v", d, err)
	}

	err = c.Configure(ctx, core.FlowConfig{Options: map[string]string{"mode": "bad"}}, nil)
	var ce *core.ConfigError
	if !errors.As(err, &ce) || ce.Fields[0].Field != "mode" {
		t.Fatalf("Configure(bad) = %v, want field error on mode", err)
	}
	cache := &core.MemoryCache{}
	if err := c.Configure(ctx, core.FlowConfig{Secrets: map[string]core.Secret{"password": core.NewSecret("pw")},
		Environment: map[string]core.Secret{"IDENTITY_ENDPOINT": core.NewSecret("http://127.0.0.1:1/msi")}}, cache); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if tok, err := c.GetToken(ctx, core.TokenRequest{Scopes: []string{"env"}}, nil); err != nil || tok.AccessToken.Reveal() != "http://127.0.0.1:1/msi" {
		t.Fatalf("the flow's IDENTITY_ENDPOINT came through as %v, %v", tok.AccessToken.Reveal(), err)
	}

	ui := &recui.UI{}
	tok, err := c.GetToken(ctx, core.TokenRequest{Scopes: []string{"s"}}, ui)
	if err != nil || tok.AccessToken.Reveal() != "at-pw" || tok.Flow != "fake" || tok.Account.Username != "alice" || tok.TokenType != "Bearer" {
		t.Fatalf("GetToken = %+v, %v", tok, err)
	}
	if p := ui.Prompts(); len(p) != 1 || p[0].UserCode != "ABC" || len(ui.Steps()) != 1 {
		t.Fatalf("ui saw prompts %v progress %v", p, ui.Steps())
	}

	// A prompt with nobody to show it to is Unavailable, not a hang.
	if _, err := c.GetToken(ctx, core.TokenRequest{Scopes: []string{"s"}}, nil); core.KindOf(err) != core.KindUnavailable {
		t.Fatalf("prompt without UI: %v, want unavailable", err)
	}

	tests := []struct {
		scope string
		kind  core.Kind
		want  string
	}{
		{"unavailable", core.KindUnavailable, "no terminal"},
		{"mfa", core.KindInteractionRequired, "AADSTS50076"},
		{"plain", core.KindFailed, "something odd"},
		{"panic", core.KindFailed, "plugin panicked"},
	}
	for _, tt := range tests {
		_, err := c.GetToken(ctx, core.TokenRequest{Scopes: []string{tt.scope}}, ui)
		if core.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v (kind %v), want kind %v containing %q", tt.scope, err, core.KindOf(err), tt.kind, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-in-panic-value") {
			t.Errorf("panic value leaked into the error: %v", err)
		}
	}
	var e *core.Error
	_, err = c.GetToken(ctx, core.TokenRequest{Scopes: []string{"mfa"}}, ui)
	if !errors.As(err, &e) || e.Claims != `{"x":1}` || e.CorrelationID != "cid" || e.Hint != "use mfa" {
		t.Fatalf("mfa error lost fields: %#v", e)
	}

	// The cache service travels through the broker, both ways.
	for range 2 {
		if _, err := c.GetToken(ctx, core.TokenRequest{Scopes: []string{"cache"}}, ui); err != nil {
			t.Fatalf("cache round trip: %v", err)
		}
	}
	if b, _ := cache.Load(ctx, "k"); string(b.Data) != "xx" || b.Version != 2 {
		t.Fatalf("host cache = %q v%d, want \"xx\" v2", b.Data, b.Version)
	}
}

func TestParsePin(t *testing.T) {
	good := "sha256:" + strings.Repeat("ab", 32)
	if _, err := ParsePin(good); err != nil {
		t.Fatalf("ParsePin(%q): %v", good, err)
	}
	for _, bad := range []string{"", "md5:00", "sha256:zz", "sha256:" + strings.Repeat("a", 63)} {
		if _, err := ParsePin(bad); err == nil {
			t.Errorf("ParsePin(%q) accepted", bad)
		}
	}
}
