package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/federation"
)

const (
	fedHost     = "adfs.fabrikam.test"
	fedUser     = "fred@fabrikam.test"
	fedPassword = "fred-password"
	fedMFAUser  = "mia@fabrikam.test"
)

// fedConfig is the demo directory plus a federated domain with a user
// and an MFA user.
func fedConfig() emulator.Config {
	cfg := testConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users,
		emulator.User{Username: fedUser, Password: fedPassword, Federated: true, DisplayName: "Fred"},
		emulator.User{Username: fedMFAUser, Password: "mia-password", Federated: true, MFA: true})
	return cfg
}

// startFed serves fedConfig with the AD FS lookalike at fedHost, and
// returns an HTTP client that resolves every host to the emulator, as
// DNS would for a real AD FS farm.
func startFed(t *testing.T) (*emulator.Server, *http.Client) {
	t.Helper()
	srv := emulatortest.StartOptions(t, emulator.Options{Config: fedConfig(), FederationHost: fedHost})
	addr := strings.TrimPrefix(srv.URL(), "https://")
	tr := srv.HTTPClient().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return srv, &http.Client{Transport: tr}
}

func TestUserRealmKinds(t *testing.T) {
	t.Parallel()
	srv, hc := startFed(t)
	fc := federation.NewClient(hc, nil)
	for user, want := range map[string]federation.AccountType{
		emulator.DefaultUsername: federation.Managed,
		fedUser:                  federation.Federated,
		"someone@fabrikam.test":  federation.Federated, // the domain is federated
		"x@nowhere.example":      federation.Unknown,
	} {
		r, err := fc.UserRealm(t.Context(), srv.Authority("common"), user)
		if err != nil || r.AccountType != want {
			t.Errorf("%s: %+v, %v; want %s", user, r, err, want)
			continue
		}
		if want == federation.Federated {
			u, _ := url.Parse(r.FederationMetadataURL)
			if u.Hostname() != fedHost || r.AppliesTo() != federation.DefaultAppliesTo {
				t.Errorf("%s: realm %+v", user, r)
			}
		}
	}
}

func TestMEXNamesBothEndpoints(t *testing.T) {
	t.Parallel()
	srv, hc := startFed(t)
	fc := federation.NewClient(hc, nil)
	r, err := fc.UserRealm(t.Context(), srv.Authority("common"), fedUser)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := fc.MEX(t.Context(), r.FederationMetadataURL)
	if err != nil {
		t.Fatal(err)
	}
	if eps.UsernameMixed.Version != federation.Trust13 || !strings.HasSuffix(eps.UsernameMixed.URL, "/adfs/services/trust/13/usernamemixed") ||
		eps.WindowsTransport.Version != federation.Trust13 || !strings.HasSuffix(eps.WindowsTransport.URL, "/13/windowstransport") ||
		!strings.Contains(eps.UsernameMixed.URL, fedHost) {
		t.Errorf("endpoints %+v", eps)
	}
}

// TestMSALUsernamePassword runs MSAL's own ROPC against the emulator:
// the password grant for managed users, and user realm, MEX, WS-Trust
// usernamemixed and the saml1_1-bearer grant for federated ones.
func TestMSALUsernamePassword(t *testing.T) {
	t.Parallel()
	srv, hc := startFed(t)
	app, err := public.New(emulator.DefaultPublicClientID, public.WithAuthority(srv.Authority(tenantID)),
		public.WithHTTPClient(hc), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	scopes := []string{"api://resource/access_as_user"}
	for _, tc := range []struct {
		user, password string
		code           int
	}{
		{emulator.DefaultUsername, emulator.DefaultPassword, 0},
		{emulator.DefaultUsername, "wrong", 50126},
		{emulator.DefaultMFAUsername, emulator.DefaultMFAPassword, 50076},
		{fedUser, fedPassword, 0},
		{fedMFAUser, "mia-password", 50076},
	} {
		//lint:ignore SA1019 ROPC is what is under test.
		res, err := app.AcquireTokenByUsernamePassword(t.Context(), scopes, tc.user, tc.password) //nolint:staticcheck
		if tc.code == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.user, err)
				continue
			}
			claims, err := srv.VerifyAccessToken(res.AccessToken)
			if err != nil || claims["preferred_username"] != tc.user || res.Account.PreferredUsername != tc.user {
				t.Errorf("%s: claims %v, %v", tc.user, claims, err)
			}
			continue
		}
		var ce msalerrors.CallErr
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "AADSTS"+itoa(tc.code)) {
			t.Errorf("%s: err %v, want AADSTS%d", tc.user, err, tc.code)
		}
	}
	if n := srv.Count("token:urn:ietf:params:oauth:grant-type:saml1_1-bearer"); n != 2 {
		t.Errorf("saml1_1-bearer grants = %d, want 2", n)
	}
	if n := srv.Count("wstrust"); n != 2 {
		t.Errorf("WS-Trust requests = %d, want 2", n)
	}
	// A wrong federated password is a SOAP fault from the federation
	// server; MSAL returns it as an HTTP 500 error.
	//lint:ignore SA1019 ROPC is what is under test.
	_, err = app.AcquireTokenByUsernamePassword(t.Context(), scopes, fedUser, "wrong") //nolint:staticcheck
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil || ce.Resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("wrong federated password: %v", err)
	}
	body, _ := io.ReadAll(ce.Resp.Body)
	if f, ok := federation.ParseFault(body); !ok || !f.AuthenticationFailed() {
		t.Errorf("fault %+v (%v) in %s", f, ok, body)
	}
}

// TestSAML2AndReplay asks for a SAML 2.0 assertion, redeems it with the
// saml2-bearer grant, and checks that it works once only and only for
// its own grant type.
func TestSAML2AndReplay(t *testing.T) {
	t.Parallel()
	srv, hc := startFed(t)
	ep := federation.Endpoint{URL: "https://" + fedHost + ":" + port(srv) + "/adfs/services/trust/13/usernamemixed", Version: federation.Trust13}
	rst, err := federation.BuildRST(ep, "", &federation.UsernamePassword{Username: fedUser, Password: fedPassword}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rst = []byte(strings.Replace(string(rst), "</wst:RequestType>",
		"</wst:RequestType><wst:TokenType>"+federation.SAML2Namespace+"</wst:TokenType>", 1))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ep.URL, strings.NewReader(string(rst)))
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	a, err := federation.ParseRSTR(body)
	if err != nil || a.Version != federation.SAML2 || a.Info.Audiences[0] != federation.DefaultAppliesTo {
		t.Fatalf("RSTR: %+v, %v", a.Info, err)
	}
	grant := func(gt string) (int, map[string]any) {
		form := url.Values{"grant_type": {gt}, "client_id": {emulator.DefaultPublicClientID},
			"assertion": {a.Base64().Reveal()}, "scope": {"api://resource/access_as_user openid offline_access profile"}}
		resp, err := hc.PostForm(srv.Authority(tenantID)+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if st, m := grant(federation.GrantSAML11); st != 400 || !strings.Contains(m["error_description"].(string), "AADSTS50008") {
		t.Errorf("SAML 2 assertion on the SAML 1.1 grant: %d %v", st, m["error_description"])
	}
	st, m := grant(federation.GrantSAML2)
	if st != 200 {
		t.Fatalf("saml2-bearer: %d %v", st, m)
	}
	claims, err := srv.VerifyAccessToken(m["access_token"].(string))
	if err != nil || claims["preferred_username"] != fedUser {
		t.Errorf("claims %v, %v", claims, err)
	}
	if st, m := grant(federation.GrantSAML2); st != 400 || !strings.Contains(m["error_description"].(string), "AADSTS50013") {
		t.Errorf("replay: %d %v", st, m["error_description"])
	}
}

func port(srv *emulator.Server) string {
	u, _ := url.Parse(srv.URL())
	return u.Port()
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestWindowsTransportWithoutKeytab: with no keytab nothing passes
// windowstransport; the answer asks for Negotiate. (The Kerberos path
// itself is tested with a real KDC in plugins/iwa.)
func TestWindowsTransportWithoutKeytab(t *testing.T) {
	t.Parallel()
	srv, hc := startFed(t)
	ep := federation.Endpoint{URL: "https://" + fedHost + ":" + port(srv) + "/adfs/services/trust/13/windowstransport", Version: federation.Trust13}
	_, err := federation.NewClient(hc, nil).RequestSecurityToken(t.Context(), ep, federation.RSTRequest{
		Authorize: func(r *http.Request) error { r.Header.Set("Authorization", "Negotiate YIIBAA=="); return nil },
	})
	var he *federation.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || !he.Negotiate {
		t.Fatalf("err %v", err)
	}
	if _, err := emulator.New(emulator.Options{KerberosKeytab: "/nonexistent/keytab", FederationHost: fedHost}); err == nil {
		t.Error("a missing keytab was accepted")
	}
	if _, err := emulator.New(emulator.Options{FederationHost: "adfs:443"}); err == nil {
		t.Error("a federation host with a port was accepted")
	}
}
