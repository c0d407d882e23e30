package federation

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// TrustVersion is the WS-Trust version an endpoint speaks.
type TrustVersion int

// WS-Trust versions. AD FS publishes both; 1.3 is preferred.
const (
	TrustUnknown TrustVersion = iota
	Trust2005
	Trust13
)

func (v TrustVersion) String() string {
	switch v {
	case Trust2005:
		return "WS-Trust 2005"
	case Trust13:
		return "WS-Trust 1.3"
	}
	return "unknown WS-Trust version"
}

// SOAP actions of an Issue request, also what a MEX binding's
// soapAction names.
const (
	actionIssue13   = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"
	actionIssue2005 = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue"
	soapHTTP        = "http://schemas.xmlsoap.org/soap/http"
	wsdlNS          = "http://schemas.xmlsoap.org/wsdl/"
)

// Endpoint is a WS-Trust endpoint found in a MEX document.
type Endpoint struct {
	URL     string
	Version TrustVersion
}

// IsZero reports whether the endpoint was not found.
func (e Endpoint) IsZero() bool { return e.URL == "" }

// Endpoints are the WS-Trust endpoints of a MEX document that a public
// client can use: username/password over TLS ("usernamemixed") and
// Kerberos/NTLM over HTTP Negotiate ("windowstransport"). Either may be
// zero if the document has none.
type Endpoints struct {
	UsernameMixed    Endpoint
	WindowsTransport Endpoint
}

// ErrNoEndpoint is wrapped when a MEX document has no endpoint of the
// kind a flow needs.
var ErrNoEndpoint = errors.New("the federation metadata has no matching WS-Trust endpoint")

type endpointKind int

const (
	kindNone endpointKind = iota
	kindUsername
	kindWindows
)

// ParseMEX reads a WS-MetadataExchange document (a WSDL with WS-Policy
// assertions, as AD FS publishes at /adfs/services/trust/mex) and returns
// its usernamemixed and windowstransport endpoints, preferring WS-Trust
// 1.3 over 2005. An endpoint is:
//
//   - a wsp:Policy (by wsu:Id) over HTTPS (sp:TransportBinding) that asks
//     for HTTP Negotiate (http:NegotiateAuthentication: windowstransport)
//     or for a signed (encrypted) supporting sp:UsernameToken
//     (usernamemixed);
//   - a wsdl:binding referencing that policy (wsp:PolicyReference), over
//     SOAP/HTTP, whose Issue operation names the WS-Trust version by its
//     soapAction;
//   - a wsdl:port of that binding with a wsa:EndpointReference/wsa:Address
//     (or soap12:address location), which must be an https URL.
//
// Elements are matched by local name, because servers disagree on
// prefixes and on the WS-SecurityPolicy namespace version. A document with
// neither endpoint is an error wrapping ErrNoEndpoint.
func ParseMEX(data []byte) (Endpoints, error) {
	root, err := parseTree(data)
	if err != nil {
		return Endpoints{}, fmt.Errorf("federation: MEX: %w", err)
	}
	if root.XMLName.Local != "definitions" || (root.XMLName.Space != "" && root.XMLName.Space != wsdlNS) {
		return Endpoints{}, fmt.Errorf("federation: MEX: root element is %q, want wsdl:definitions", root.XMLName.Local)
	}
	policies := map[string]endpointKind{}
	for _, p := range root.children("Policy") {
		id := p.attr("Id")
		if id == "" {
			continue
		}
		if k := policyKind(p); k != kindNone {
			policies["#"+id] = k
		}
	}
	type bindingInfo struct {
		kind    endpointKind
		version TrustVersion
	}
	bindings := map[string]bindingInfo{}
	for _, b := range root.children("binding") {
		name := b.attr("name")
		ref := b.child("PolicyReference")
		if name == "" || ref == nil {
			continue
		}
		kind, ok := policies[ref.attr("URI")]
		if !ok {
			continue
		}
		soap := b.child("binding")
		if soap == nil || soap.attr("transport") != soapHTTP {
			continue
		}
		version := TrustUnknown
		for _, op := range b.children("operation") {
			if so := op.child("operation"); so != nil {
				switch so.attr("soapAction") {
				case actionIssue13:
					version = Trust13
				case actionIssue2005:
					version = Trust2005
				}
			}
		}
		if version == TrustUnknown {
			continue
		}
		bindings[name] = bindingInfo{kind, version}
	}
	var out Endpoints
	for _, svc := range root.children("service") {
		for _, port := range svc.children("port") {
			bname := port.attr("binding")
			if i := strings.IndexByte(bname, ':'); i >= 0 {
				bname = bname[i+1:]
			}
			b, ok := bindings[bname]
			if !ok {
				continue
			}
			addr := ""
			if epr := port.child("EndpointReference"); epr != nil {
				addr = epr.child("Address").text()
			}
			if addr == "" {
				if a := port.child("address"); a != nil {
					addr = strings.TrimSpace(a.attr("location"))
				}
			}
			if !isHTTPS(addr) {
				// A password or a Kerberos ticket is never sent in clear.
				continue
			}
			ep := Endpoint{URL: addr, Version: b.version}
			switch b.kind {
			case kindUsername:
				out.UsernameMixed = better(out.UsernameMixed, ep)
			case kindWindows:
				out.WindowsTransport = better(out.WindowsTransport, ep)
			}
		}
	}
	if out.UsernameMixed.IsZero() && out.WindowsTransport.IsZero() {
		return Endpoints{}, fmt.Errorf("federation: MEX: %w (neither usernamemixed nor windowstransport)", ErrNoEndpoint)
	}
	return out, nil
}

// policyKind says which endpoint a policy describes. Both kinds run over
// TLS; a policy without a transport binding secures messages instead and
// is of no use here.
func policyKind(p *node) endpointKind {
	if p.find("TransportBinding") == nil {
		return kindNone
	}
	if p.find("NegotiateAuthentication") != nil {
		return kindWindows
	}
	for _, wrap := range []string{"SignedEncryptedSupportingTokens", "SignedSupportingTokens"} {
		if w := p.find(wrap); w != nil {
			if ut := w.find("UsernameToken"); ut != nil && ut.find("WssUsernameToken10") != nil {
				return kindUsername
			}
		}
	}
	return kindNone
}

// better keeps the first endpoint found, unless a WS-Trust 1.3 one
// replaces a 2005 one.
func better(cur, found Endpoint) Endpoint {
	if cur.IsZero() || (cur.Version == Trust2005 && found.Version == Trust13) {
		return found
	}
	return cur
}

func isHTTPS(s string) bool {
	u, err := url.Parse(s)
	return err == nil && strings.EqualFold(u.Scheme, "https") && u.Host != ""
}
