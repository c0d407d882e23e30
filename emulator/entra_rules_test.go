package emulator_test

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/golang-jwt/jwt/v5"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

// resourceServer validates access tokens as a resource server written to
// Microsoft's documented rules does (learn.microsoft.com, "Access tokens"
// and "Validate tokens"): the signature by a key of the tenant's JWKS
// (found through OpenID discovery), then by the token's version:
//
//	ver 2.0: iss "https://<authority host>/<tid>/v2.0", aud the API's
//	         client id;
//	ver 1.0: iss "https://sts.windows.net/<tid>/", aud one of the API's
//	         identifier URIs (or its client id).
//
// It never looks at emulator internals.
type resourceServer struct {
	clientID string
	uris     []string
	version  string // the version the API accepts
	keys     map[string]*rsa.PublicKey
	host     string
}

func newResourceServer(t *testing.T, srv *emulator.Server, clientID, version string, uris ...string) *resourceServer {
	t.Helper()
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, srv, srv.Authority(tenantID)+"/v2.0/.well-known/openid-configuration", &disc)
	var jwks struct {
		Keys []struct{ Kid, N, E string }
	}
	getJSON(t, srv, disc.JWKSURI, &jwks)
	rs := &resourceServer{clientID: clientID, uris: uris, version: version, keys: map[string]*rsa.PublicKey{},
		host: strings.TrimPrefix(srv.URL(), "https://")}
	for _, k := range jwks.Keys {
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		rs.keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	if len(rs.keys) == 0 {
		t.Fatal("JWKS without keys")
	}
	return rs
}

func getJSON(t *testing.T, srv *emulator.Server, u string, v any) {
	t.Helper()
	resp, err := srv.HTTPClient().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}

func (rs *resourceServer) validate(raw string) (jwt.MapClaims, error) {
	tok, err := jwt.Parse(raw, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k, ok := rs.keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("kid %q not in JWKS", kid)
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Minute))
	if err != nil {
		return nil, err
	}
	c := tok.Claims.(jwt.MapClaims)
	tid, _ := c["tid"].(string)
	ver, _ := c["ver"].(string)
	if ver != rs.version {
		return nil, fmt.Errorf("ver %q, the API accepts %s", ver, rs.version)
	}
	iss, _ := c.GetIssuer()
	aud, _ := c.GetAudience()
	wantAud := []string{rs.clientID}
	switch ver {
	case "2.0":
		if want := "https://" + rs.host + "/" + tid + "/v2.0"; iss != want {
			return nil, fmt.Errorf("v2.0 iss %q, want %q", iss, want)
		}
	case "1.0":
		if want := "https://sts.windows.net/" + tid + "/"; iss != want {
			return nil, fmt.Errorf("v1.0 iss %q, want %q", iss, want)
		}
		wantAud = append(wantAud, rs.uris...)
	default:
		return nil, fmt.Errorf("ver %q", ver)
	}
	if len(aud) != 1 || !containsStr(wantAud, aud[0]) {
		return nil, fmt.Errorf("aud %v, want one of %v", aud, wantAud)
	}
	// The claim sets of the versions differ (learn.microsoft.com, access
	// token claims reference).
	v1Only, v2Only := []string{"appid", "appidacr"}, []string{"azp", "azpacr"}
	if ver == "1.0" {
		v1Only, v2Only = v2Only, v1Only
	}
	for _, k := range v1Only {
		if _, ok := c[k]; ok {
			return nil, fmt.Errorf("ver %s token with %s", ver, k)
		}
	}
	for _, k := range append(v2Only, "aio", "rh", "uti", "oid", "sub", "tid") {
		if s, _ := c[k].(string); s == "" {
			return nil, fmt.Errorf("ver %s token without %s", ver, k)
		}
	}
	return c, nil
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestEntraTokenRules: tokens from unmodified MSAL Go and azidentity, for
// every grant they support against the emulator, pass a resource server
// that applies Microsoft's v1/v2 rules: the v2.0 API api://resource and
// the v1.0 Azure Storage.
func TestEntraTokenRules(t *testing.T) {
	cfg := testConfig()
	const (
		fedID   = "33333333-3333-4333-8333-333333333333"
		subject = "system:serviceaccount:ns:name"
	)
	cfg.Tenants[0].Apps = append(cfg.Tenants[0].Apps, emulator.App{ClientID: fedID, Name: "workload",
		FederatedCredentials: []emulator.FederatedCredential{{Subject: subject}}})
	srv := emulatortest.StartOptions(t, emulator.Options{Config: cfg, DeviceCodeInterval: time.Second})
	v2 := newResourceServer(t, srv, resourceID, "2.0", "api://resource")
	v1 := newResourceServer(t, srv, emulator.StorageAppID, "1.0", "https://storage.azure.com", "https://storage.azure.com/")
	ctx := context.Background()
	check := func(name string, rs *resourceServer, tok string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if _, err := rs.validate(tok); err != nil {
			t.Errorf("%s: the resource server refuses the token: %v", name, err)
		}
	}
	for _, api := range []struct {
		rs    *resourceServer
		res   string
		scope string
	}{{v2, "api://resource", "api://resource/access_as_user"}, {v1, "https://storage.azure.com", "https://storage.azure.com/user_impersonation"}} {
		// MSAL Go, confidential: client credentials with a secret, an
		// assertion (workload identity), and on-behalf-of.
		app := newConfidential(t, srv, tenantID, clientID, secretCred(t, secret))
		r, err := app.AcquireTokenByCredential(ctx, []string{api.res + "/.default"})
		check("msal client credentials "+api.res, api.rs, r.AccessToken, err)
		fed := newConfidential(t, srv, tenantID, fedID, confidential.NewCredFromAssertionCallback(
			func(context.Context, confidential.AssertionRequestOptions) (string, error) {
				return srv.IssueFederatedToken(subject, "", 0)
			}))
		r, err = fed.AcquireTokenByCredential(ctx, []string{api.res + "/.default"})
		check("msal federated assertion "+api.res, api.rs, r.AccessToken, err)
		in, err := srv.IssueUserToken(tenantID, emulator.DefaultUsername, "api://"+clientID, 0)
		if err != nil {
			t.Fatal(err)
		}
		r, err = app.AcquireTokenOnBehalfOf(ctx, in, []string{api.scope})
		check("msal on-behalf-of "+api.res, api.rs, r.AccessToken, err)

		// MSAL Go, public: username/password, then silent (refresh).
		pub := newPublic(t, srv, tenantID)
		pr, err := pub.AcquireTokenByUsernamePassword(ctx, []string{api.scope}, emulator.DefaultUsername, emulator.DefaultPassword) //nolint:staticcheck
		check("msal username/password "+api.res, api.rs, pr.AccessToken, err)
		if err == nil {
			pr, err = pub.AcquireTokenSilent(ctx, []string{api.scope}, public.WithSilentAccount(pr.Account))
			check("msal refresh "+api.res, api.rs, pr.AccessToken, err)
		}

		// azidentity: secret, assertion, username/password, device code.
		opts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL() + "/"}, Transport: srv.HTTPClient()}
		tro := policy.TokenRequestOptions{Scopes: []string{api.res + "/.default"}}
		sc, _ := azidentity.NewClientSecretCredential(tenantID, clientID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		at, err := sc.GetToken(ctx, tro)
		check("azidentity client secret "+api.res, api.rs, at.Token, err)
		ac, _ := azidentity.NewClientAssertionCredential(tenantID, fedID, func(context.Context) (string, error) {
			return srv.IssueFederatedToken(subject, "", 0)
		}, &azidentity.ClientAssertionCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		at, err = ac.GetToken(ctx, tro)
		check("azidentity client assertion "+api.res, api.rs, at.Token, err)
		oc, _ := azidentity.NewOnBehalfOfCredentialWithSecret(tenantID, clientID, in, secret,
			&azidentity.OnBehalfOfCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		at, err = oc.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{api.scope}})
		check("azidentity on-behalf-of "+api.res, api.rs, at.Token, err)
		uc, _ := azidentity.NewUsernamePasswordCredential(tenantID, publicID, emulator.DefaultUsername, emulator.DefaultPassword, //nolint:staticcheck
			&azidentity.UsernamePasswordCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		at, err = uc.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{api.scope}})
		check("azidentity username/password "+api.res, api.rs, at.Token, err)
		dc, _ := azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true,
			TenantID: tenantID, ClientID: publicID,
			UserPrompt: func(_ context.Context, m azidentity.DeviceCodeMessage) error {
				return srv.ApproveDeviceCode(m.UserCode, emulator.DefaultUsername)
			}})
		at, err = dc.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{api.scope}})
		check("azidentity device code "+api.res, api.rs, at.Token, err)

		// The other version's resource server refuses the token.
		other := v1
		if api.rs == v1 {
			other = v2
		}
		if _, err := other.validate(at.Token); err == nil {
			t.Errorf("a %s token for %s passes the other API's checks", api.rs.version, api.res)
		}
	}
}
