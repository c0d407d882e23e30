package main

import (
	"context"
	"errors"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"github.com/credhost/credhost/internal/testkit/wiretap"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/httpclient"
	"github.com/credhost/credhost/internal/testkit/recui"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/plugintest"
)

const (
	tenantID = emulator.DefaultTenantID
	scope    = "api://resource/access_as_user"
)

// harness is the flow served in-process over gRPC, an emulator, the
// host's cache and a UI that records prompts.
type harness struct {
	t      *testing.T
	srv    *emulator.Server
	client *plugintest.Conn
	cache  *sdk.MemoryCache
	ui     *recui.UI
	logs   *syncbuf.Buffer
	wire   *wiretap.Tap
}

func newHarness(t *testing.T, opts emulator.Options) *harness {
	t.Helper()
	if opts.DeviceCodeInterval == 0 {
		opts.DeviceCodeInterval = time.Second
	}
	h := &harness{t: t, cache: &sdk.MemoryCache{}, ui: &recui.UI{}, logs: &syncbuf.Buffer{}, wire: &wiretap.Tap{}}
	opts.Logger = zerolog.New(h.logs).Level(zerolog.DebugLevel)
	h.srv = emulatortest.StartOptions(t, opts)
	f := &flow{newHTTP: func(ca []byte) (*http.Client, error) {
		c, err := httpclient.New(ca)
		if err != nil {
			return nil, err
		}
		h.wire.Base = c.Transport
		c.Transport = h.wire
		return c, nil
	}}
	h.client = plugintest.Connect(t, f, zerolog.New(h.logs).Level(zerolog.TraceLevel))
	h.configure(h.srv.Authority(tenantID), nil)
	return h
}

func (h *harness) configure(authority string, options map[string]string) error {
	h.t.Helper()
	return h.client.Configure(context.Background(), sdk.FlowConfig{Profile: "p", Authority: authority,
		ClientID: emulator.DefaultPublicClientID, Options: options, CACertificates: h.srv.CACertPEM()}, h.cache)
}

func (h *harness) token(ctx context.Context, req sdk.TokenRequest) (sdk.Token, error) {
	h.t.Helper()
	if req.Scopes == nil {
		req.Scopes = []string{scope}
	}
	return h.client.GetToken(ctx, req, h.ui)
}

// approveAfter approves the next prompted code as username once it has
// been polled n times.
func (h *harness) approveAfter(n int, username string) {
	h.ui.OnPrompt = func(p sdk.Prompt) {
		go func() {
			deadline := time.Now().Add(time.Minute)
			for time.Now().Before(deadline) {
				if info, _ := h.srv.DeviceCode(p.UserCode); len(info.Polls) >= n {
					if err := h.srv.ApproveDeviceCode(p.UserCode, username); err != nil {
						h.t.Errorf("approve: %v", err)
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
}

// polls returns the recorded polls of the last prompted code.
func (h *harness) polls() (emulator.DeviceCodeInfo, []emulator.DeviceCodePoll) {
	h.t.Helper()
	p, _, ok := h.ui.Last()
	if !ok {
		h.t.Fatal("no prompt was shown")
	}
	info, ok := h.srv.DeviceCode(p.UserCode)
	if !ok {
		h.t.Fatalf("the emulator does not know code %s", p.UserCode)
	}
	return info, info.Polls
}

// checkSpacing fails if two polls are closer than want.
func checkSpacing(t *testing.T, polls []emulator.DeviceCodePoll, want func(i int) time.Duration) {
	t.Helper()
	for i := 1; i < len(polls); i++ {
		if gap := polls[i].At.Sub(polls[i-1].At); gap < want(i) {
			t.Errorf("poll %d came %v after poll %d (%s), want at least %v", i+1, gap, i, polls[i-1].Answer, want(i))
		}
	}
}

func TestSignInThenSilent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	h.approveAfter(2, emulator.DefaultUsername)
	tok, err := h.token(t.Context(), sdk.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := h.srv.VerifyAccessToken(tok.AccessToken.Reveal())
	if err != nil || claims["preferred_username"] != emulator.DefaultUsername {
		t.Fatalf("token claims %v, %v", claims, err)
	}
	if tok.Account.Username != emulator.DefaultUsername || tok.Account.TenantID != tenantID || tok.Flow != flowName {
		t.Errorf("token %+v", tok)
	}
	info, polls := h.polls()
	if len(polls) != 3 || polls[2].Answer != "token" {
		t.Fatalf("polls %+v", polls)
	}
	// The prompt was shown before the first poll, which waited an
	// interval after the code was issued; polls are an interval apart.
	if _, shown, _ := h.ui.Last(); !shown.Before(polls[0].At) {
		t.Errorf("prompt at %v, first poll at %v", shown, polls[0].At)
	}
	if gap := polls[0].At.Sub(info.Issued); gap < info.Interval {
		t.Errorf("first poll %v after the code was issued, want at least %v", gap, info.Interval)
	}
	checkSpacing(t, polls, func(int) time.Duration { return info.Interval })

	// The second call is silent: no prompt, no request at all.
	before := h.srv.Count("token") + h.srv.Count("devicecode")
	tok2, err := h.token(t.Context(), sdk.TokenRequest{})
	if err != nil || tok2.AccessToken.Reveal() != tok.AccessToken.Reveal() {
		t.Fatalf("silent: %v", err)
	}
	if h.ui.Count() != 1 || h.srv.Count("token")+h.srv.Count("devicecode") != before {
		t.Errorf("second call prompted (%d prompts) or called the IdP", h.ui.Count())
	}
	// Force refresh and another resource use the refresh token, silently.
	for _, req := range []sdk.TokenRequest{{ForceRefresh: true}, {Scopes: []string{"https://graph.microsoft.com/User.Read"}}} {
		tok3, err := h.token(t.Context(), req)
		if err != nil || tok3.AccessToken.Reveal() == tok.AccessToken.Reveal() {
			t.Fatalf("refresh %+v: %v", req, err)
		}
	}
	if n := h.srv.Count("token:refresh_token"); n != 2 || h.ui.Count() != 1 {
		t.Errorf("refresh_token grants %d, prompts %d", n, h.ui.Count())
	}
}

func TestSlowDownAddsFiveSeconds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	h.srv.ScriptDeviceCode(emulator.DeviceCodeScript{SlowDown: 1})
	h.approveAfter(3, emulator.DefaultUsername)
	if _, err := h.token(t.Context(), sdk.TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	info, polls := h.polls()
	if len(polls) != 4 || polls[0].Answer != "slow_down" || polls[3].Answer != "token" {
		t.Fatalf("polls %+v", polls)
	}
	// After slow_down the interval stays 5s longer (RFC 8628 3.5).
	checkSpacing(t, polls, func(int) time.Duration { return info.Interval + 5*time.Second })
}

func TestExpiryIsAClearError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	h.srv.ScriptDeviceCode(emulator.DeviceCodeScript{Lifetime: 3 * time.Second})
	_, err := h.token(t.Context(), sdk.TokenRequest{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindFailed || e.OAuthCode != "expired_token" ||
		!strings.Contains(err.Error(), "device code expired") || !strings.Contains(e.Hint, "run the command again") {
		t.Fatalf("err = %#v (%v)", e, err)
	}
	info, polls := h.polls()
	time.Sleep(1500 * time.Millisecond)
	if _, after := h.polls(); len(after) != len(polls) {
		t.Errorf("polling went on after the error: %+v", after)
	}
	if last := polls[len(polls)-1]; last.At.After(info.Expires.Add(time.Second)) {
		t.Errorf("last poll %v, code expired %v", last.At, info.Expires)
	}
}

func TestCancelStopsPollingWithinASecond(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{DeviceCodeInterval: 2 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	cancelledAt := make(chan time.Time, 1)
	h.ui.OnPrompt = func(p sdk.Prompt) {
		go func() {
			for {
				if info, _ := h.srv.DeviceCode(p.UserCode); len(info.Polls) >= 1 {
					// Cancel in the middle of the wait for the next poll.
					time.Sleep(500 * time.Millisecond)
					cancelledAt <- time.Now()
					cancel()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	_, err := h.token(ctx, sdk.TokenRequest{})
	returned := time.Now()
	cancelled := <-cancelledAt
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancellation", err)
	}
	// Wait longer than an interval: a poll that was still scheduled
	// would show up.
	time.Sleep(3 * time.Second)
	_, polls := h.polls()
	for _, p := range polls {
		if p.At.After(cancelled) {
			t.Errorf("poll at %v, after the cancel at %v", p.At, cancelled)
		}
	}
	if d := returned.Sub(cancelled); d > time.Second {
		t.Errorf("GetToken returned %v after the cancel", d)
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	h.srv.InjectFault(emulator.Fault{Endpoint: "token", Drop: true, Times: 1})
	h.srv.InjectFault(emulator.Fault{Endpoint: "token", Status: http.StatusServiceUnavailable, RetryAfter: "1", Times: 1})
	h.approveAfter(0, emulator.DefaultUsername)
	if _, err := h.token(t.Context(), sdk.TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := h.srv.Count("token"); n != 3 {
		t.Errorf("token requests %d, want 3 (drop, 503, token)", n)
	}
}

func TestMFAUserNeedsInteraction(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	h.approveAfter(0, emulator.DefaultMFAUsername)
	_, err := h.token(t.Context(), sdk.TokenRequest{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindInteractionRequired || e.Code != 50076 || e.Claims == "" ||
		!strings.Contains(e.Hint, "multi-factor authentication") || !strings.Contains(err.Error(), "AADSTS50076") {
		t.Fatalf("err = %v (%#v)", err, e)
	}
}

func TestDeclined(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	h.ui.OnPrompt = func(p sdk.Prompt) { _ = h.srv.DenyDeviceCode(p.UserCode) }
	_, err := h.token(t.Context(), sdk.TokenRequest{})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindFailed || e.OAuthCode != "authorization_declined" || !strings.Contains(e.Hint, "declined") {
		t.Fatalf("err = %v", err)
	}
}

func TestNobodyToPromptIsUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	_, err := h.client.GetToken(t.Context(), sdk.TokenRequest{Scopes: []string{scope}}, nil)
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("err = %v", err)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := h.srv.Count("token"); n != 0 {
		t.Errorf("the flow polled %d times with nobody to see the code", n)
	}
}

func TestTenantRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	for _, tenant := range []string{"common", "consumers", "Common"} {
		err := h.configure(h.srv.Authority(tenant), nil)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "authority") || !strings.Contains(err.Error(), "rule: devicecode needs") {
			t.Errorf("%s: err = %v", tenant, err)
		}
	}
	if err := h.configure(h.srv.Authority("organizations"), map[string]string{"login_hint": emulator.DefaultUsername}); err != nil {
		t.Fatalf("organizations: %v", err)
	}
	_, err := h.token(t.Context(), sdk.TokenRequest{TenantID: "consumers"})
	if sdk.KindOf(err) != sdk.KindFailed || !strings.Contains(err.Error(), "rule: devicecode") {
		t.Fatalf("tenant override: %v", err)
	}
	if n := h.srv.Count("devicecode"); n != 0 {
		t.Errorf("a forbidden tenant reached the IdP")
	}
}

func TestOrganizationsAuthority(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	if err := h.configure(h.srv.Authority("organizations"), nil); err != nil {
		t.Fatal(err)
	}
	h.approveAfter(0, emulator.DefaultUsername)
	tok, err := h.token(t.Context(), sdk.TokenRequest{})
	if err != nil || tok.Account.TenantID != tenantID {
		t.Fatalf("token %+v: %v", tok, err)
	}
	if _, err := h.token(t.Context(), sdk.TokenRequest{}); err != nil || h.ui.Count() != 1 {
		t.Fatalf("second call: %v, prompts %d", err, h.ui.Count())
	}
}

// TestNoSecretsInLogsOrErrors plants the secrets of real sign-ins (device
// code, tokens, refresh tokens, passwords) and checks that none appears in
// the flow's or the emulator's logs at trace level, or in error text.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{})
	h.approveAfter(1, emulator.DefaultUsername)
	if _, err := h.token(t.Context(), sdk.TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.token(t.Context(), sdk.TokenRequest{ForceRefresh: true}); err != nil {
		t.Fatal(err)
	}
	var errs []string
	h.approveAfter(0, emulator.DefaultMFAUsername)
	if _, err := h.token(t.Context(), sdk.TokenRequest{Account: emulator.DefaultMFAUsername}); err != nil {
		errs = append(errs, err.Error())
	}
	h.srv.ScriptDeviceCode(emulator.DeviceCodeScript{Lifetime: 2 * time.Second})
	h.ui.OnPrompt = nil
	if _, err := h.token(t.Context(), sdk.TokenRequest{Account: "nobody@contoso.onmicrosoft.com"}); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) != 2 {
		t.Fatalf("want two failures, got %v", errs)
	}
	secrets := secretsOnTheWire(t, h.wire.All())
	secrets = append(secrets, emulator.DefaultPassword, emulator.DefaultMFAPassword)
	text := h.logs.String() + strings.Join(errs, "\n")
	if !strings.Contains(text, `"flow":"devicecode"`) {
		t.Fatalf("no flow logs captured:\n%s", text)
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("a secret (%.8s…) appears in logs or errors", s)
		}
	}
}

// secretsOnTheWire extracts device codes, tokens and refresh tokens from
// recorded bodies.
func secretsOnTheWire(t *testing.T, bodies []string) []string {
	t.Helper()
	var out []string
	for _, b := range bodies {
		for _, key := range []string{"device_code", "access_token", "refresh_token", "id_token"} {
			for _, v := range wiretap.Values(b, key) {
				if len(v) > 8 {
					out = append(out, v)
				}
			}
		}
	}
	want := map[string]bool{}
	for _, s := range out {
		want[s[:3]] = true
	}
	if !want["dc."] || !want["rt."] || !want["eyJ"] {
		t.Fatalf("did not capture device codes, refresh tokens and JWTs: %v", want)
	}
	return out
}
