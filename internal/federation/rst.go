package federation

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"time"
)

// DefaultAppliesTo is the relying party Entra ID's WS-Trust requests name
// (the user realm's cloud_audience_urn).
const DefaultAppliesTo = "urn:federation:MicrosoftOnline"

// Namespaces and values of a WS-Trust Issue request, per version.
const (
	addressingNS = "http://www.w3.org/2005/08/addressing"
	utilityNS    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	secextNS     = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	policyNS     = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	passwordText = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
	anonymous    = "http://www.w3.org/2005/08/addressing/anonymous"
)

type trustSpec struct {
	action, ns, keyType, requestType string
}

var specs = map[TrustVersion]trustSpec{
	Trust13: {actionIssue13, "http://docs.oasis-open.org/ws-sx/ws-trust/200512",
		"http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer", "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"},
	Trust2005: {actionIssue2005, "http://schemas.xmlsoap.org/ws/2005/02/trust",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey", "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue"},
}

// Action returns the SOAP action of an Issue request to an endpoint of
// version v, or "" for an unknown version.
func (v TrustVersion) Action() string { return specs[v].action }

// UsernamePassword is the credential of a usernamemixed request. The
// password is only ever written into the request body.
type UsernamePassword struct {
	Username string
	Password string
}

// BuildRST returns a SOAP 1.2 WS-Trust Issue request for a bearer token
// for appliesTo (empty means DefaultAppliesTo) at ep. With cred it
// carries a WS-Security UsernameToken (usernamemixed); without, none
// (windowstransport authenticates the HTTP request instead). now stamps
// the security header's validity (10 minutes). The result holds the
// password: send it and drop it.
func BuildRST(ep Endpoint, appliesTo string, cred *UsernamePassword, now time.Time) ([]byte, error) {
	spec, ok := specs[ep.Version]
	if !ok {
		return nil, fmt.Errorf("federation: build RST: %v", ep.Version)
	}
	if ep.URL == "" {
		return nil, errors.New("federation: build RST: no endpoint URL")
	}
	if appliesTo == "" {
		appliesTo = DefaultAppliesTo
	}
	var b bytes.Buffer
	esc := func(s string) { _ = xml.EscapeText(&b, []byte(s)) }
	b.WriteString(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="` + addressingNS + `" xmlns:wsu="` + utilityNS + `">`)
	b.WriteString(`<s:Header><wsa:Action s:mustUnderstand="1">` + spec.action + `</wsa:Action>`)
	b.WriteString(`<wsa:MessageID>urn:uuid:` + uuid() + `</wsa:MessageID>`)
	b.WriteString(`<wsa:ReplyTo><wsa:Address>` + anonymous + `</wsa:Address></wsa:ReplyTo>`)
	b.WriteString(`<wsa:To s:mustUnderstand="1">`)
	esc(ep.URL)
	b.WriteString(`</wsa:To>`)
	if cred != nil {
		const stamp = "2006-01-02T15:04:05.000Z"
		now = now.UTC()
		b.WriteString(`<wsse:Security s:mustUnderstand="1" xmlns:wsse="` + secextNS + `">`)
		b.WriteString(`<wsu:Timestamp wsu:Id="MSATimeStamp"><wsu:Created>` + now.Format(stamp) + `</wsu:Created><wsu:Expires>` +
			now.Add(10*time.Minute).Format(stamp) + `</wsu:Expires></wsu:Timestamp>`)
		b.WriteString(`<wsse:UsernameToken wsu:Id="UnPwSecTok-` + uuid() + `"><wsse:Username>`)
		esc(cred.Username)
		b.WriteString(`</wsse:Username><wsse:Password Type="` + passwordText + `">`)
		esc(cred.Password)
		b.WriteString(`</wsse:Password></wsse:UsernameToken></wsse:Security>`)
	}
	b.WriteString(`</s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="` + spec.ns + `">`)
	b.WriteString(`<wsp:AppliesTo xmlns:wsp="` + policyNS + `"><wsa:EndpointReference><wsa:Address>`)
	esc(appliesTo)
	b.WriteString(`</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>`)
	b.WriteString(`<wst:KeyType>` + spec.keyType + `</wst:KeyType><wst:RequestType>` + spec.requestType + `</wst:RequestType>`)
	b.WriteString(`</wst:RequestSecurityToken></s:Body></s:Envelope>`)
	return b.Bytes(), nil
}

// uuid returns a random version 4 UUID.
func uuid() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
