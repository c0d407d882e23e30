package emulator

import (
	"crypto/subtle"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/jcmturner/goidentity/v6"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// WS-Trust versions by URL segment.
var trustNamespaces = map[string]string{
	"13":   "http://docs.oasis-open.org/ws-sx/ws-trust/200512",
	"2005": "http://schemas.xmlsoap.org/ws/2005/02/trust",
}

// rstEnvelope is the part of a WS-Trust Issue request the emulator reads.
// Elements match by local name: clients disagree on prefixes (MSAL Go
// even sends wsa:messageID).
type rstEnvelope struct {
	XMLName xml.Name
	Header  struct {
		Security struct {
			UsernameToken *struct {
				Username string `xml:"Username"`
				Password string `xml:"Password"`
			} `xml:"UsernameToken"`
		} `xml:"Security"`
	} `xml:"Header"`
	Body struct {
		RST *struct {
			XMLName   xml.Name
			AppliesTo struct {
				Address string `xml:"EndpointReference>Address"`
			} `xml:"AppliesTo"`
			TokenType   string `xml:"TokenType"`
			RequestType string `xml:"RequestType"`
		} `xml:"RequestSecurityToken"`
	} `xml:"Body"`
}

// handleWSTrust serves POST /adfs/services/trust/{version}/{endpoint}:
// WS-Trust 1.3 ("13") or 2005 Issue requests at usernamemixed (the
// credentials are in the WS-Security header) or windowstransport (HTTP
// Negotiate with a Kerberos ticket for KerberosSPN, checked against
// KerberosKeytab). It answers with a SAML assertion for
// urn:federation:MicrosoftOnline, SAML 1.1 unless the request's TokenType
// asks for SAML 2.0, or with a SOAP fault.
func (s *Server) handleWSTrust(w http.ResponseWriter, r *http.Request) {
	version, endpoint := r.PathValue("version"), r.PathValue("endpoint")
	if _, ok := trustNamespaces[version]; !ok || (endpoint != "usernamemixed" && endpoint != "windowstransport") {
		s.handleNotFound(w, r)
		return
	}
	if endpoint == "usernamemixed" {
		s.wsTrustIssue(w, r, version, nil)
		return
	}
	if s.fed.keytab == nil {
		// Like an AD FS without Windows authentication: nothing passes.
		w.Header().Set("WWW-Authenticate", "Negotiate")
		http.Error(w, "windowstransport is off: the emulator has no Kerberos keytab (Options.KerberosKeytab)", http.StatusUnauthorized)
		return
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := goidentity.FromHTTPRequestContext(r)
		if id == nil || !id.Authenticated() {
			w.Header().Set("WWW-Authenticate", "Negotiate")
			http.Error(w, "not authenticated", http.StatusUnauthorized)
			return
		}
		principal := id.UserName() + "@" + id.Domain()
		u, ok := s.dir.federatedUserByPrincipal(principal)
		if !ok {
			s.writeSOAPFault(w, "FailedAuthentication",
				fmt.Sprintf("MSIS7068: Access denied: no federated user maps to the Kerberos principal %s.", principal))
			return
		}
		s.wsTrustIssue(w, r, version, u)
	})
	spnego.SPNEGOKRB5Authenticate(inner, s.fed.keytab,
		service.KeytabPrincipal(s.fed.spn),
		// MIT KDCs add a PAC that is not Active Directory's; the emulator
		// needs only the client principal.
		service.DecodePAC(false),
		service.Logger(log.New(debugWriter{s.log}, "emulator kerberos: ", 0)),
	).ServeHTTP(w, r)
}

// wsTrustIssue answers one Issue request. kerberosUser is the user
// windowstransport authenticated, nil at usernamemixed.
func (s *Server) wsTrustIssue(w http.ResponseWriter, r *http.Request, version string, kerberosUser *userRec) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeSOAPFault(w, "InvalidRequest", "ID3035: The request was not valid or is malformed: the body is too large or unreadable.")
		return
	}
	var env rstEnvelope
	if err := xml.Unmarshal(body, &env); err != nil || env.XMLName.Local != "Envelope" || env.XMLName.Space != soap12Envelope || env.Body.RST == nil {
		s.writeSOAPFault(w, "InvalidRequest", "ID3035: The request was not valid or is malformed: want a SOAP 1.2 RequestSecurityToken.")
		return
	}
	rst := env.Body.RST
	ns := trustNamespaces[version]
	switch {
	case rst.XMLName.Space != ns:
		s.writeSOAPFault(w, "InvalidRequest", fmt.Sprintf("ID3035: The request was not valid or is malformed: this endpoint speaks the WS-Trust namespace %s.", ns))
		return
	case strings.TrimSpace(rst.RequestType) != ns+"/Issue":
		s.writeSOAPFault(w, "InvalidRequest", "ID3035: The request was not valid or is malformed: only Issue requests are supported.")
		return
	case strings.TrimSpace(rst.AppliesTo.Address) != cloudAudienceURN:
		s.writeSOAPFault(w, "RequestFailed", "MSIS7007: The requested relying party trust is unspecified or unsupported; use "+cloudAudienceURN+".")
		return
	}
	u := kerberosUser
	method := samlAuthWindows
	if u == nil {
		method = samlAuthPassword
		ut := env.Header.Security.UsernameToken
		if ut == nil {
			s.writeSOAPFault(w, "InvalidSecurity", "ID3242: The security token could not be authenticated or authorized: no UsernameToken.")
			return
		}
		var ok bool
		u, ok = s.findUser(nil, strings.TrimSpace(ut.Username))
		// A managed user has no account at the federation server.
		if !ok || !u.Federated || subtle.ConstantTimeCompare([]byte(ut.Password), []byte(u.Password)) != 1 {
			s.writeSOAPFault(w, "FailedAuthentication", "ID3242: The security token could not be authenticated or authorized.")
			return
		}
	}
	saml2 := strings.TrimSpace(rst.TokenType) == saml2Namespace
	assertion, created, expires := s.issueAssertion(r, u, method, saml2)
	tokenType := saml11Namespace
	if saml2 {
		tokenType = saml2Namespace
	}
	var b strings.Builder
	b.WriteString(`<s:Envelope xmlns:s="` + soap12Envelope + `" xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:u="` + wsuNamespace + `">`)
	b.WriteString(`<s:Header><a:Action s:mustUnderstand="1">` + ns)
	if version == "13" {
		b.WriteString(`/RSTRC/IssueFinal`)
	} else {
		b.WriteString(`/RSTR/Issue`)
	}
	b.WriteString(`</a:Action></s:Header><s:Body>`)
	if version == "13" {
		b.WriteString(`<trust:RequestSecurityTokenResponseCollection xmlns:trust="` + ns + `">`)
	}
	b.WriteString(`<trust:RequestSecurityTokenResponse xmlns:trust="` + ns + `">`)
	b.WriteString(`<trust:Lifetime><u:Created>` + created + `</u:Created><u:Expires>` + expires + `</u:Expires></trust:Lifetime>`)
	b.WriteString(`<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing">`)
	b.WriteString(`<wsa:Address>` + cloudAudienceURN + `</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>`)
	// No whitespace around the assertion: clients forward the element's
	// bytes, and the grant matches them exactly.
	b.WriteString(`<trust:RequestedSecurityToken>` + assertion + `</trust:RequestedSecurityToken>`)
	b.WriteString(`<trust:TokenType>` + tokenType + `</trust:TokenType>`)
	b.WriteString(`<trust:RequestType>` + ns + `/Issue</trust:RequestType>`)
	b.WriteString(`</trust:RequestSecurityTokenResponse>`)
	if version == "13" {
		b.WriteString(`</trust:RequestSecurityTokenResponseCollection>`)
	}
	b.WriteString(`</s:Body></s:Envelope>`)
	infoFrom(r.Context()).tenant = u.tenantID
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, b.String())
}

// SOAP and WS-Security namespaces of the responses.
const (
	soap12Envelope = "http://www.w3.org/2003/05/soap-envelope"
	wsuNamespace   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
)

// writeSOAPFault answers with a SOAP 1.2 Sender fault whose subcode is a
// WS-Trust fault (FailedAuthentication, InvalidRequest, RequestFailed) or
// the WS-Security InvalidSecurity, with HTTP 500 like AD FS. The reason
// never echoes the request.
func (s *Server) writeSOAPFault(w http.ResponseWriter, subcode, reason string) {
	ns := "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
	if subcode == "InvalidSecurity" {
		ns = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	}
	var esc strings.Builder
	_ = xml.EscapeText(&esc, []byte(reason))
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, `<s:Envelope xmlns:s="`+soap12Envelope+`" xmlns:a="http://www.w3.org/2005/08/addressing">`+
		`<s:Header><a:Action s:mustUnderstand="1">http://www.w3.org/2005/08/addressing/soap/fault</a:Action></s:Header>`+
		`<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value xmlns:a="`+ns+`">a:`+subcode+`</s:Value></s:Subcode></s:Code>`+
		`<s:Reason><s:Text xml:lang="en-US">`+esc.String()+`</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`)
}

// wsTrustTime is the layout of WS-Security and SAML instants.
const wsTrustTime = "2006-01-02T15:04:05.000Z"

func wsTime(t time.Time) string { return t.UTC().Format(wsTrustTime) }
