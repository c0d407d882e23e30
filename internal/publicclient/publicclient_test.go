package publicclient

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/httpclient"
)

const (
	flow    = "testflow"
	scope   = "api://resource/access_as_user"
	guarded = "api://guarded/access_as_user" // conditional access for alice
)

// world is an emulator over HTTPS and a public client of its
// "credhost-cli" app, trusting the emulator's CA like a flow would.
type world struct {
	srv   *emulator.Server
	cache *core.MemoryCache
}

func newWorld(t *testing.T) *world {
	t.Helper()
	cfg := emulator.DefaultConfig()
	for i, u := range cfg.Tenants[0].Users {
		if u.Username == emulator.DefaultUsername {
			cfg.Tenants[0].Users[i].ConditionalAccess = []string{"api://guarded"}
		}
	}
	return &world{srv: emulatortest.Start(t, cfg), cache: &core.MemoryCache{}}
}

// client is a new Client, as a new plugin process would build it.
func (w *world) client(t *testing.T) *Client {
	t.Helper()
	hc, err := httpclient.New(w.srv.CACertPEM())
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(flow, core.FlowConfig{Profile: "p", Authority: w.srv.Authority(emulator.DefaultTenantID), ClientID: emulator.DefaultPublicClientID}, hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signIn signs user in with a password (the emulator's ROPC), the
// interactive step of a flow, and records the sign-in.
func (w *world) signIn(ctx context.Context, t *testing.T, c *Client, user, password string) (core.Token, error) {
	t.Helper()
	res, err := c.MSAL().AcquireTokenByUsernamePassword(ctx, []string{scope}, user, password) //nolint:staticcheck // the emulator's quickest user sign-in
	if err != nil {
		return core.Token{}, Classify(flow, err)
	}
	return c.SignedIn(ctx, res), nil
}

// TestSilentWithRefreshToken: before a sign-in, Silent says "sign in";
// after one, a new client (a restarted plugin) on the same host cache
// answers from the cached access token without the IdP, uses the refresh
// token when asked to bypass it or for another scope, and refuses a login
// hint naming someone else. The sign-in is recorded for the host.
func TestSilentWithRefreshToken(t *testing.T) {
	w := newWorld(t)
	ctx := WithCache(t.Context(), w.cache)
	c := w.client(t)
	req := core.TokenRequest{Scopes: []string{scope}}

	if _, err := c.Silent(ctx, req, []string{scope}, ""); !errors.Is(err, ErrInteractionNeeded) || !strings.Contains(err.Error(), "no signed-in account") {
		t.Fatalf("Silent before a sign-in = %v, want ErrInteractionNeeded", err)
	}
	if CanRefresh(ctx, w.cache) {
		t.Fatal("CanRefresh before a sign-in")
	}
	first, err := w.signIn(ctx, t, c, emulator.DefaultUsername, emulator.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	if first.Account.Username != emulator.DefaultUsername || first.Account.TenantID != emulator.DefaultTenantID || first.Flow != flow {
		t.Fatalf("token of the sign-in: %+v", first.Account)
	}
	b, err := w.cache.Load(ctx, core.SignInSuffix)
	var rec core.SignInRecord
	if err != nil || json.Unmarshal(b.Data, &rec) != nil || len(rec.Accounts) != 1 || rec.Accounts[0] != first.Account || !rec.CanRefresh {
		t.Fatalf("sign-in record %s, %v; want %+v with a refresh token", b.Data, err, first.Account)
	}
	if !CanRefresh(ctx, w.cache) {
		t.Fatal("CanRefresh after a sign-in = false")
	}

	c = w.client(t)
	tokens := w.srv.Count("token")
	tok, err := c.Silent(ctx, req, []string{scope}, "")
	if err != nil || tok.AccessToken.Reveal() != first.AccessToken.Reveal() || w.srv.Count("token") != tokens {
		t.Fatalf("Silent from the cache: %v, same token %v, token requests %d → %d", err, tok.AccessToken.Reveal() == first.AccessToken.Reveal(), tokens, w.srv.Count("token"))
	}

	refreshes := w.srv.Count("token:refresh_token")
	force := req
	force.ForceRefresh = true
	tok, err = c.Silent(ctx, force, []string{scope}, emulator.DefaultUsername)
	if err != nil || tok.AccessToken.Reveal() == first.AccessToken.Reveal() || w.srv.Count("token:refresh_token") != refreshes+1 {
		t.Fatalf("Silent with ForceRefresh: %v, new token %v, refresh grants %d → %d", err, tok.AccessToken.Reveal() != first.AccessToken.Reveal(), refreshes, w.srv.Count("token:refresh_token"))
	}
	if claims, err := w.srv.VerifyAccessToken(tok.AccessToken.Reveal()); err != nil || claims["preferred_username"] != emulator.DefaultUsername {
		t.Fatalf("refreshed token claims %v, %v", claims, err)
	}

	graph := core.TokenRequest{Scopes: []string{"https://graph.microsoft.com/User.Read"}}
	if tok, err := c.Silent(ctx, graph, graph.Scopes, ""); err != nil || w.srv.Count("token:refresh_token") != refreshes+2 || tok.Account.Username != emulator.DefaultUsername {
		t.Fatalf("Silent for another resource: %v, refresh grants %d", err, w.srv.Count("token:refresh_token")-refreshes)
	}

	if _, err := c.Silent(ctx, req, []string{scope}, "carol@contoso.onmicrosoft.com"); !errors.Is(err, ErrInteractionNeeded) {
		t.Fatalf("Silent for an account nobody signed in = %v, want ErrInteractionNeeded", err)
	}
}

// TestSilentRefusedOrUnreachable: a conditional-access refusal of the
// refresh token means "sign in again" and carries the claims challenge the
// interactive sign-in must send (with it, the token is issued); an IdP
// that cannot be reached is final, not a reason to prompt.
func TestSilentRefusedOrUnreachable(t *testing.T) {
	w := newWorld(t)
	ctx := WithCache(t.Context(), w.cache)
	c := w.client(t)
	if _, err := w.signIn(ctx, t, c, emulator.DefaultUsername, emulator.DefaultPassword); err != nil {
		t.Fatal(err)
	}

	req := core.TokenRequest{Scopes: []string{guarded}}
	_, err := c.Silent(ctx, req, req.Scopes, "")
	var e *core.Error
	if !errors.Is(err, ErrInteractionNeeded) || !errors.As(err, &e) || e.Kind != core.KindInteractionRequired || e.Code != 50076 {
		t.Fatalf("Silent under conditional access = %v, want ErrInteractionNeeded wrapping AADSTS50076", err)
	}
	challenge := Claims(req, err)
	if challenge == "" || !json.Valid([]byte(challenge)) {
		t.Fatalf("Claims = %q, want the IdP's JSON challenge", challenge)
	}
	if own := Claims(core.TokenRequest{Claims: `{"own":1}`}, err); own != `{"own":1}` {
		t.Fatalf("Claims with the request's own = %q", own)
	}
	// The emulator issues the token to a request carrying the challenge,
	// as Entra does after the user completed MFA.
	req.Claims = challenge
	tok, err := c.Silent(ctx, req, req.Scopes, "")
	if err != nil {
		t.Fatalf("Silent with the claims challenge: %v", err)
	}
	if claims, err := w.srv.VerifyAccessToken(tok.AccessToken.Reveal()); err != nil || claims["acrs"] == nil {
		t.Fatalf("token after the challenge: claims %v, %v; want acrs", claims, err)
	}

	w.srv.InjectFault(emulator.Fault{Endpoint: "token", Drop: true})
	_, err = c.Silent(ctx, core.TokenRequest{Scopes: []string{scope}, ForceRefresh: true}, []string{scope}, "")
	if err == nil || errors.Is(err, ErrInteractionNeeded) {
		t.Fatalf("Silent with the IdP unreachable = %v, want a final error", err)
	}
}

// TestSignInHints: an interaction-required answer to an interactive
// sign-in gets a hint for the person signing in, not the table's "use an
// interactive flow"; other errors keep their hint.
func TestSignInHints(t *testing.T) {
	w := newWorld(t)
	ctx := WithCache(t.Context(), w.cache)
	_, err := w.signIn(ctx, t, w.client(t), emulator.DefaultMFAUsername, emulator.DefaultMFAPassword)
	var e *core.Error
	if !errors.As(err, &e) || e.Kind != core.KindInteractionRequired || e.Flow != flow ||
		!strings.HasPrefix(e.Hint, "the sign-in did not meet the tenant's requirements (") || strings.Contains(e.Hint, "use an interactive flow") {
		t.Fatalf("MFA user's sign-in = %v (hint %q)", err, hintOf(e))
	}
	if CanRefresh(ctx, w.cache) {
		t.Fatal("a refused sign-in left a refresh token")
	}

	_, err = w.signIn(ctx, t, w.client(t), emulator.DefaultUsername, "wrong")
	if !errors.As(err, &e) || e.Kind == core.KindInteractionRequired || strings.Contains(e.Hint, "tenant's requirements") {
		t.Fatalf("wrong password = %v (hint %q)", err, hintOf(e))
	}

	bare := &core.Error{Kind: core.KindInteractionRequired}
	SignInHint(bare)
	if !strings.Contains(bare.Hint, "the identity provider wants more from the user") {
		t.Fatalf("hint without the table's = %q", bare.Hint)
	}
	SignInHint(nil) // must not panic
}

func hintOf(e *core.Error) string {
	if e == nil {
		return ""
	}
	return e.Hint
}

// TestAuthorityRules: tenants a flow cannot use are refused at Configure
// and per request, naming the rule; no scopes is a failure with a hint.
func TestAuthorityRules(t *testing.T) {
	forbidden := []string{"common", "consumers"}
	ce := &core.ConfigError{Flow: flow}
	CheckAuthority(flow, core.FlowConfig{ClientID: "c", Authority: "https://login.example/Common/v2.0"}, forbidden, ce)
	if len(ce.Fields) != 1 || ce.Fields[0].Field != "authority" || !strings.Contains(ce.Error(), `cannot use the "common" tenant`) {
		t.Fatalf("CheckAuthority(common) = %v", ce)
	}
	ce = &core.ConfigError{Flow: flow}
	CheckAuthority(flow, core.FlowConfig{ClientID: "c", Authority: "https://login.example/organizations"}, forbidden, ce)
	if len(ce.Fields) != 0 {
		t.Fatalf("CheckAuthority(organizations) = %v", ce)
	}
	if err := CheckTenant(flow, " Consumers ", forbidden); err == nil || !strings.Contains(err.Error(), "consumers") {
		t.Fatalf("CheckTenant(consumers) = %v", err)
	}
	if err := CheckTenant(flow, emulator.DefaultTenantID, forbidden); err != nil {
		t.Fatalf("CheckTenant(tenant id) = %v", err)
	}
	if _, err := Scopes(flow, core.TokenRequest{Scopes: []string{" "}}); err == nil {
		t.Fatal("Scopes without a scope: no error")
	}
}
