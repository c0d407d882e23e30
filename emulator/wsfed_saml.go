package emulator

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strings"
)

// SAML namespaces and authentication methods.
const (
	saml11Namespace  = "urn:oasis:names:tc:SAML:1.0:assertion"
	saml2Namespace   = "urn:oasis:names:tc:SAML:2.0:assertion"
	samlAuthPassword = "urn:oasis:names:tc:SAML:1.0:am:password"
	samlAuthWindows  = "urn:federation:authentication:windows"
)

// issueAssertion mints a SAML assertion about u for Entra ID and
// remembers it (see wsfed.go). SAML 1.1 assertions use the saml: prefix
// declared on the assertion itself, as AD FS writes them: MSAL reads the
// version from that declaration, and clients forward the element without
// its envelope. It returns the assertion and its validity instants.
func (s *Server) issueAssertion(r *http.Request, u *userRec, method string, saml2 bool) (assertion, created, expires string) {
	now := s.now()
	exp := now.Add(assertionLifetime)
	created, expires = wsTime(now), wsTime(exp)
	issuer := "http://" + strings.Split(s.federationHost(s.publicHost(r)), ":")[0] + "/adfs/services/trust"
	// Entra ID matches federated users by the ImmutableID (the on-premises
	// objectGUID, base64), here derived from the object id.
	immutable := base64.StdEncoding.EncodeToString([]byte(u.ObjectID)[:16])
	esc := func(v string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(v))
		return b.String()
	}
	id := "_" + newGUID()
	var b strings.Builder
	if saml2 {
		authn := "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
		if method == samlAuthWindows {
			authn = "urn:federation:authentication:windows"
		}
		b.WriteString(`<saml:Assertion ID="` + id + `" IssueInstant="` + created + `" Version="2.0" xmlns:saml="` + saml2Namespace + `">`)
		b.WriteString(`<saml:Issuer>` + esc(issuer) + `</saml:Issuer>`)
		b.WriteString(`<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">` + immutable + `</saml:NameID>`)
		b.WriteString(`<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"/></saml:Subject>`)
		b.WriteString(`<saml:Conditions NotBefore="` + created + `" NotOnOrAfter="` + expires + `"><saml:AudienceRestriction><saml:Audience>` +
			cloudAudienceURN + `</saml:Audience></saml:AudienceRestriction></saml:Conditions>`)
		b.WriteString(`<saml:AttributeStatement><saml:Attribute Name="http://schemas.xmlsoap.org/claims/UPN"><saml:AttributeValue>` +
			esc(u.Username) + `</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>`)
		b.WriteString(`<saml:AuthnStatement AuthnInstant="` + created + `"><saml:AuthnContext><saml:AuthnContextClassRef>` + authn +
			`</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`)
	} else {
		subject := `<saml:Subject><saml:NameIdentifier Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">` + immutable +
			`</saml:NameIdentifier><saml:SubjectConfirmation><saml:ConfirmationMethod>urn:oasis:names:tc:SAML:1.0:cm:bearer</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>`
		b.WriteString(`<saml:Assertion MajorVersion="1" MinorVersion="1" AssertionID="` + id + `" Issuer="` + esc(issuer) +
			`" IssueInstant="` + created + `" xmlns:saml="` + saml11Namespace + `">`)
		b.WriteString(`<saml:Conditions NotBefore="` + created + `" NotOnOrAfter="` + expires + `"><saml:AudienceRestrictionCondition><saml:Audience>` +
			cloudAudienceURN + `</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions>`)
		b.WriteString(`<saml:AttributeStatement>` + subject)
		b.WriteString(`<saml:Attribute AttributeName="UPN" AttributeNamespace="http://schemas.xmlsoap.org/claims"><saml:AttributeValue>` +
			esc(u.Username) + `</saml:AttributeValue></saml:Attribute>`)
		b.WriteString(`<saml:Attribute AttributeName="ImmutableID" AttributeNamespace="http://schemas.microsoft.com/LiveID/Federation/2008/05"><saml:AttributeValue>` +
			immutable + `</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>`)
		b.WriteString(`<saml:AuthenticationStatement AuthenticationMethod="` + method + `" AuthenticationInstant="` + created + `">` + subject +
			`</saml:AuthenticationStatement>`)
	}
	b.WriteString(`</saml:Assertion>`)
	assertion = b.String()
	version := 1
	if saml2 {
		version = 2
	}
	s.fed.rememberAssertion(assertion, &assertionRec{user: u, version: version, authTime: now, expires: exp})
	return assertion, created, expires
}
