package emulator_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
)

const (
	tenantID = emulator.DefaultTenantID
	domain   = emulator.DefaultTenantDomain
	clientID = emulator.DefaultClientID
	secret   = emulator.DefaultClientSecret
	scope    = "api://resource/.default"
	// resourceID is the client id of the web API "api://resource" of the
	// default directory, a v2.0 resource: its tokens' "aud".
	resourceID = emulator.DefaultAPIClientID
)

// testConfig is DefaultConfig.
func testConfig() emulator.Config { return emulator.DefaultConfig() }

// testCert is an RSA key with a self-signed certificate.
type testCert struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	pem  string
}

var (
	certOnce  sync.Once
	certCache [2]testCert
)

// certs returns two distinct RSA certificates, generated once per test
// binary to keep the suite fast.
func certs(t testing.TB) (testCert, testCert) {
	t.Helper()
	certOnce.Do(func() {
		for i := range certCache {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(int64(i + 1)),
				Subject:      pkix.Name{CommonName: "credhost test client"},
				NotBefore:    time.Now().Add(-time.Hour),
				NotAfter:     time.Now().Add(time.Hour * 24),
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
			if err != nil {
				panic(err)
			}
			cert, _ := x509.ParseCertificate(der)
			certCache[i] = testCert{key: key, cert: cert, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
		}
	})
	return certCache[0], certCache[1]
}

// start runs testConfig.
func start(t *testing.T) *emulator.Server {
	t.Helper()
	return emulatortest.Start(t, testConfig())
}

// newConfidential returns an MSAL confidential client against srv.
func newConfidential(t *testing.T, srv *emulator.Server, tenant, client string, cred confidential.Credential) confidential.Client {
	t.Helper()
	app, err := confidential.New(srv.Authority(tenant), client, cred,
		confidential.WithHTTPClient(srv.HTTPClient()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatalf("confidential.New: %v", err)
	}
	return app
}

func secretCred(t *testing.T, s string) confidential.Credential {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends req with srv's client and decodes a JSON body.
func do(t *testing.T, srv *emulator.Server, req *http.Request) response {
	t.Helper()
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL, b)
	}
	return r
}

func get(t *testing.T, srv *emulator.Server, path string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+path, nil)
	return do(t, srv, req)
}

// postToken posts form to tenant's token endpoint.
func postToken(t *testing.T, srv *emulator.Server, tenant string, form url.Values) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, tokenEndpoint(srv, tenant), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, srv, req)
}

func tokenEndpoint(srv *emulator.Server, tenant string) string {
	return srv.Authority(tenant) + "/oauth2/v2.0/token"
}

// aadstsCode returns the first of a response's error_codes.
func aadstsCode(r response) int {
	codes, _ := r.body["error_codes"].([]any)
	if len(codes) == 0 {
		return 0
	}
	f, _ := codes[0].(float64)
	return int(f)
}

func wantAADSTS(t *testing.T, r response, status, code int, oauth string) {
	t.Helper()
	if r.status != status || aadstsCode(r) != code || r.body["error"] != oauth {
		t.Fatalf("got HTTP %d %v AADSTS%d, want HTTP %d %s AADSTS%d: %s", r.status, r.body["error"], aadstsCode(r), status, oauth, code, r.raw)
	}
}

// assertion builds a client assertion signed by key, with header x5t#S256
// set to cert's thumbprint (if cert is not nil), and claims on top of the
// defaults MSAL would send.
func assertion(t *testing.T, key *rsa.PrivateKey, cert *x509.Certificate, aud string, override map[string]any) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"aud": aud, "iss": clientID, "sub": clientID, "jti": "j-" + now.String(),
		"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
	for k, v := range override {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	header := map[string]any{"alg": "PS256", "typ": "JWT"}
	if cert != nil {
		tp := sha256.Sum256(cert.Raw)
		header["x5t#S256"] = base64.StdEncoding.EncodeToString(tp[:])
	}
	return signJWS(t, key, header, claims)
}

// signJWS signs a compact JWS with key, PS256 or RS256 as header["alg"]
// says.
func signJWS(t *testing.T, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	if header["alg"] == "RS256" {
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	} else {
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func assertionForm(a string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {clientID},
		"scope":                 {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {a},
	}
}

func secretForm(s string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {s}, "scope": {scope}}
}

// fakeClock is an adjustable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
