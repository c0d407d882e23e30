package emulator

import (
	"net/http"
	"strings"
)

// handleMEX serves GET /adfs/services/trust/mex: a WS-MetadataExchange
// document (WSDL with WS-Policy) shaped like AD FS's, trimmed to the four
// endpoints a public client can use: usernamemixed and windowstransport,
// each in WS-Trust 1.3 and 2005. MSAL Go's parser is strict: every policy
// is wsp:ExactlyOne/wsp:All, sp:TransportBinding declares its own
// xmlns:sp, and each binding has one soap12:operation whose soapAction
// names the WS-Trust version.
func (s *Server) handleMEX(w http.ResponseWriter, r *http.Request) {
	base := "https://" + s.publicHost(r) + "/adfs/services/trust/"
	doc := strings.NewReplacer("{base}", base).Replace(mexTemplate)
	h := w.Header()
	h.Set("Content-Type", "text/xml; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(doc))
}

// mexPolicy returns a policy over HTTPS; inner is what it requires
// besides the transport.
func mexPolicy(id, inner string) string {
	return `<wsp:Policy wsu:Id="` + id + `"><wsp:ExactlyOne><wsp:All>` + inner +
		`<sp:TransportBinding xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"><wsp:Policy>` +
		`<sp:TransportToken><wsp:Policy><sp:HttpsToken/></wsp:Policy></sp:TransportToken>` +
		`<sp:AlgorithmSuite><wsp:Policy><sp:Basic256/></wsp:Policy></sp:AlgorithmSuite>` +
		`<sp:Layout><wsp:Policy><sp:Strict/></wsp:Policy></sp:Layout><sp:IncludeTimestamp/>` +
		`</wsp:Policy></sp:TransportBinding><wsaw:UsingAddressing/></wsp:All></wsp:ExactlyOne></wsp:Policy>`
}

const (
	mexNegotiate = `<http:NegotiateAuthentication xmlns:http="http://schemas.microsoft.com/ws/06/2004/policy/http"/>`
	mexUsername  = `<sp:SignedEncryptedSupportingTokens xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"><wsp:Policy>` +
		`<sp:UsernameToken sp:IncludeToken="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702/IncludeToken/AlwaysToRecipient">` +
		`<wsp:Policy><sp:WssUsernameToken10/></wsp:Policy></sp:UsernameToken></wsp:Policy></sp:SignedEncryptedSupportingTokens>`
)

// mexBinding is a SOAP 1.2 binding of the policy with one Issue operation.
func mexBinding(name, policy, action, op string) string {
	return `<wsdl:binding name="` + name + `" type="tns:IWSTrust"><wsp:PolicyReference URI="#` + policy + `"/>` +
		`<soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>` +
		`<wsdl:operation name="` + op + `"><soap12:operation soapAction="` + action + `" style="document"/>` +
		`<wsdl:input><soap12:body use="literal"/></wsdl:input><wsdl:output><soap12:body use="literal"/></wsdl:output></wsdl:operation></wsdl:binding>`
}

// mexPort is a service port of a binding at {base}path.
func mexPort(binding, path string) string {
	return `<wsdl:port name="` + binding + `" binding="tns:` + binding + `"><soap12:address location="{base}` + path + `"/>` +
		`<wsa10:EndpointReference><wsa10:Address>{base}` + path + `</wsa10:Address></wsa10:EndpointReference></wsdl:port>`
}

const (
	issue13   = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"
	issue2005 = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue"
)

var mexTemplate = `<?xml version="1.0" encoding="utf-8"?>` +
	`<wsdl:definitions name="SecurityTokenService" targetNamespace="http://tempuri.org/"` +
	` xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:tns="http://tempuri.org/"` +
	` xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:wsa10="http://www.w3.org/2005/08/addressing"` +
	` xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl" xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"` +
	` xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">` +
	mexPolicy("WindowsTransportBinding_IWSTrustFeb2005Async_policy", mexNegotiate) +
	mexPolicy("WindowsTransportBinding_IWSTrust13Async_policy", mexNegotiate) +
	mexPolicy("UserNameWSTrustBinding_IWSTrustFeb2005Async_policy", mexUsername) +
	mexPolicy("UserNameWSTrustBinding_IWSTrust13Async_policy", mexUsername) +
	`<wsdl:portType name="IWSTrust"><wsdl:operation name="Issue"/></wsdl:portType>` +
	mexBinding("WindowsTransportBinding_IWSTrustFeb2005Async", "WindowsTransportBinding_IWSTrustFeb2005Async_policy", issue2005, "TrustFeb2005IssueAsync") +
	mexBinding("WindowsTransportBinding_IWSTrust13Async", "WindowsTransportBinding_IWSTrust13Async_policy", issue13, "Trust13IssueAsync") +
	mexBinding("UserNameWSTrustBinding_IWSTrustFeb2005Async", "UserNameWSTrustBinding_IWSTrustFeb2005Async_policy", issue2005, "TrustFeb2005IssueAsync") +
	mexBinding("UserNameWSTrustBinding_IWSTrust13Async", "UserNameWSTrustBinding_IWSTrust13Async_policy", issue13, "Trust13IssueAsync") +
	`<wsdl:service name="SecurityTokenService">` +
	mexPort("WindowsTransportBinding_IWSTrustFeb2005Async", "2005/windowstransport") +
	mexPort("WindowsTransportBinding_IWSTrust13Async", "13/windowstransport") +
	mexPort("UserNameWSTrustBinding_IWSTrustFeb2005Async", "2005/usernamemixed") +
	mexPort("UserNameWSTrustBinding_IWSTrust13Async", "13/usernamemixed") +
	`</wsdl:service></wsdl:definitions>`
