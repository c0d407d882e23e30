package federation

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credhost/credhost/core"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMEX(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file    string
		version TrustVersion
	}{
		{"mex_adfs.xml", Trust13},
		{"mex_2005_only.xml", Trust2005},
	} {
		eps, err := ParseMEX(readTestdata(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		um, wt := eps.UsernameMixed, eps.WindowsTransport
		if um.Version != tc.version || wt.Version != tc.version {
			t.Errorf("%s: versions %v %v, want %v", tc.file, um.Version, wt.Version, tc.version)
		}
		seg := "/13/"
		if tc.version == Trust2005 {
			// The sed-made document keeps the 13 URLs but declares 2005
			// actions; the first port of each kind wins.
			seg = "/2005/"
		}
		if !strings.Contains(um.URL, seg+"usernamemixed") || !strings.Contains(wt.URL, seg+"windowstransport") {
			t.Errorf("%s: endpoints %+v", tc.file, eps)
		}
	}
}

func TestParseMEXRejects(t *testing.T) {
	t.Parallel()
	mex := string(readTestdata(t, "mex_adfs.xml"))
	for name, doc := range map[string]string{
		"not wsdl":     `<definitions xmlns="urn:other"/>`,
		"no endpoints": `<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"/>`,
		"http only":    strings.ReplaceAll(mex, "https://", "http://"),
		"doctype":      `<!DOCTYPE x [<!ENTITY a "b">]><wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"/>`,
		"deep":         strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1),
		"two roots":    `<a/><b/>`,
		"unbalanced":   `<a><b></a>`,
		"huge":         "<a>" + strings.Repeat("x", MaxDocumentSize) + "</a>",
	} {
		if _, err := ParseMEX([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseRSTR(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]SAMLVersion{
		"rstr_13.xml": SAML11, "rstr_2005.xml": SAML11, "rstr_13_saml2.xml": SAML2, "rstr_2005_saml2.xml": SAML2,
	} {
		doc := readTestdata(t, file)
		a, err := ParseRSTR(doc)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		raw := a.XML.Reveal()
		if a.Version != want || !strings.HasPrefix(raw, "<saml:Assertion") || !strings.HasSuffix(raw, "</saml:Assertion>") ||
			!strings.Contains(string(doc), raw) {
			t.Errorf("%s: %v %q", file, a.Version, raw)
		}
		if a.Info.ID == "" || a.Info.Subject == "" || len(a.Info.Audiences) != 1 || a.Info.NotOnOrAfter.IsZero() {
			t.Errorf("%s: info %+v", file, a.Info)
		}
		wantGrant := map[SAMLVersion]string{SAML11: GrantSAML11, SAML2: GrantSAML2}[want]
		if a.GrantType() != wantGrant {
			t.Errorf("%s: grant %s", file, a.GrantType())
		}
		// The assertion is a secret: it prints redacted.
		if s := (&core.Error{Err: errors.New("x")}).Error(); strings.Contains(s, raw) || strings.Contains(a.XML.String(), "Assertion") {
			t.Errorf("%s: assertion printable", file)
		}
	}
}

func TestParseRSTRRejects(t *testing.T) {
	t.Parallel()
	if _, err := ParseRSTR(readTestdata(t, "rstr_ancestor_ns.xml")); err == nil || !strings.Contains(err.Error(), "self-contained") {
		t.Errorf("ancestor namespace: %v", err)
	}
	_, err := ParseRSTR(readTestdata(t, "fault_13.xml"))
	var f *Fault
	if !errors.As(err, &f) || !f.AuthenticationFailed() || f.Code != "Sender" || f.Subcode != "FailedAuthentication" || !strings.Contains(f.Reason, "ID3242") {
		t.Errorf("fault: %#v", err)
	}
	f, ok := ParseFault(readTestdata(t, "fault_soap11.xml"))
	if !ok || f.Code != "FailedAuthentication" || !f.AuthenticationFailed() {
		t.Errorf("SOAP 1.1 fault: %+v", f)
	}
	encrypted := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><t:RequestSecurityTokenResponse xmlns:t="x"><t:RequestedSecurityToken><e:EncryptedAssertion xmlns:e="y"/></t:RequestedSecurityToken></t:RequestSecurityTokenResponse></s:Body></s:Envelope>`
	if _, err := ParseRSTR([]byte(encrypted)); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("encrypted: %v", err)
	}
	if _, err := ParseRSTR([]byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>`)); !errors.Is(err, errNoToken) {
		t.Errorf("empty: %v", err)
	}
}

func TestParseSAML(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]SAMLVersion{"saml_11.xml": SAML11, "saml_20.xml": SAML2} {
		info, err := ParseSAML(readTestdata(t, file))
		if err != nil || info.Version != want || !strings.HasPrefix(info.Issuer, "http://") || info.NotBefore.IsZero() {
			t.Errorf("%s: %+v, %v", file, info, err)
		}
	}
	for name, doc := range map[string]string{
		"default ns 1.0 wrong version": `<Assertion xmlns="urn:oasis:names:tc:SAML:1.0:assertion" MajorVersion="2" MinorVersion="0" AssertionID="a"/>`,
		"no id":                        `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Version="2.0"/>`,
		"other ns":                     `<Assertion xmlns="urn:x" ID="a"/>`,
	} {
		if _, err := ParseSAML([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A default namespace is as good as a prefix for this parser.
	if info, err := ParseSAML([]byte(`<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" Version="2.0" ID="a"/>`)); err != nil || info.Version != SAML2 {
		t.Errorf("default namespace: %+v %v", info, err)
	}
}

func TestBuildRSTEscapesAndParses(t *testing.T) {
	t.Parallel()
	pw := `p<&>"'w`
	for _, v := range []TrustVersion{Trust13, Trust2005} {
		b, err := BuildRST(Endpoint{URL: "https://adfs.example/x", Version: v}, "", &UsernamePassword{Username: "u@example", Password: pw}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := checkXML(b); err != nil {
			t.Fatalf("%v: %v\n%s", v, err, b)
		}
		root, _ := parseTree(b)
		if got := root.find("Password").text(); got != pw {
			t.Errorf("%v: password %q", v, got)
		}
		if root.find("Action").text() != v.Action() || root.find("AppliesTo").find("Address").text() != DefaultAppliesTo {
			t.Errorf("%v: %s", v, b)
		}
	}
	b, _ := BuildRST(Endpoint{URL: "https://adfs.example/x", Version: Trust13}, "", nil, time.Now())
	if strings.Contains(string(b), "wsse:Security") {
		t.Errorf("windowstransport request has a security header: %s", b)
	}
	if _, err := BuildRST(Endpoint{URL: "https://x"}, "", nil, time.Now()); err == nil {
		t.Error("unknown version accepted")
	}
}

// TestClientNeverLeaksThePassword has a hostile server echo the request
// in its fault reason; the error must not carry the password.
func TestClientNeverLeaksThePassword(t *testing.T) {
	t.Parallel()
	const pw = "canary-password-8e1f"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason><s:Text>you sent ` + pw + `</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`))
	}))
	defer srv.Close()
	c := NewClient(srv.Client(), &Options{Timeout: 5 * time.Second})
	_, err := c.RequestSecurityToken(context.Background(), Endpoint{URL: srv.URL + "/13/usernamemixed", Version: Trust13},
		RSTRequest{Credential: &UsernamePassword{Username: "u", Password: pw}})
	var f *Fault
	if !errors.As(err, &f) {
		t.Fatalf("err %v", err)
	}
	classified := Classify("ropc", err)
	if strings.Contains(err.Error(), pw) || strings.Contains(classified.Error(), pw) {
		t.Errorf("password in error: %v", classified)
	}
}

func TestClientStatusAndRedirects(t *testing.T) {
	t.Parallel()
	var hits int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/negotiate":
			w.Header().Set("WWW-Authenticate", "Negotiate")
			w.WriteHeader(401)
		default:
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	c := NewClient(srv.Client(), nil)
	ctx := context.Background()
	_, err := c.RequestSecurityToken(ctx, Endpoint{URL: srv.URL + "/redirect", Version: Trust13}, RSTRequest{})
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusFound || hits != 1 {
		t.Errorf("redirect followed or not reported: %v (hits %d)", err, hits)
	}
	_, err = c.RequestSecurityToken(ctx, Endpoint{URL: srv.URL + "/negotiate", Version: Trust13}, RSTRequest{})
	if !errors.As(err, &he) || !he.Negotiate {
		t.Errorf("negotiate: %v", err)
	}
	_, err = c.MEX(ctx, srv.URL+"/down")
	if e := Classify("iwa", err); core.KindOf(e) != core.KindFailed || !strings.Contains(e.Error(), "HTTP 503") {
		t.Errorf("503: %v", e)
	}
	if _, err := c.MEX(ctx, "http://plain.example/mex"); err == nil {
		t.Error("plain http MEX accepted")
	}
}

func TestClassifyFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		kind core.Kind
		code int
	}{
		{&Fault{Code: "Sender", Subcode: "FailedAuthentication"}, core.KindFailed, 50126},
		{&Fault{Code: "Receiver", Reason: "MSIS7068: Access denied."}, core.KindFailed, 50126},
		{&Fault{Code: "Sender", Subcode: "RequestFailed"}, core.KindFailed, 0},
		{context.Canceled, core.KindFailed, 0},
	} {
		var e *core.Error
		if !errors.As(Classify("f", tc.err), &e) || e.Kind != tc.kind || e.Code != tc.code || e.Flow != "f" {
			t.Errorf("%v: %+v", tc.err, e)
		}
	}
	if Classify("f", nil) != nil {
		t.Error("nil classified")
	}
}
