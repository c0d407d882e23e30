package federation

import (
	"bytes"
	"encoding/xml"
	"strings"
)

// Fault is a SOAP fault from a WS-Trust server. Its fields are the
// server's words, clipped; they never hold what the client sent.
type Fault struct {
	// Code is the SOAP fault code ("Sender", "Receiver", or SOAP 1.1's
	// "Client"), without its prefix.
	Code string
	// Subcode is the WS-Trust or WS-Security fault ("FailedAuthentication",
	// "InvalidSecurity", "RequestFailed"), without its prefix.
	Subcode string
	// Reason is the human-readable text, e.g. AD FS's "ID3242: The
	// security token could not be authenticated or authorized."
	Reason string
}

func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("federation: the federation server answered with a SOAP fault")
	if c := f.code(); c != "" {
		b.WriteString(" " + c)
	}
	if f.Reason != "" {
		b.WriteString(": " + f.Reason)
	}
	return b.String()
}

// code is Subcode if set, else Code.
func (f *Fault) code() string {
	if f.Subcode != "" {
		return f.Subcode
	}
	return f.Code
}

// AuthenticationFailed reports whether the server refused the
// credentials (WS-Trust FailedAuthentication, WS-Security
// FailedAuthentication, InvalidSecurity or InvalidSecurityToken, or AD
// FS's MSIS7068 and ID3242 messages).
func (f *Fault) AuthenticationFailed() bool {
	switch f.code() {
	case "FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken":
		return true
	}
	return strings.Contains(f.Reason, "ID3242") || strings.Contains(f.Reason, "MSIS7068")
}

// ParseFault reports whether data is a SOAP fault (1.1 or 1.2) and
// returns it. Anything else, malformed XML included, is not a fault.
func ParseFault(data []byte) (*Fault, bool) {
	if checkXML(data) != nil {
		return nil, false
	}
	return parseFault(data)
}

// parseFault is ParseFault on a checked document.
func parseFault(data []byte) (*Fault, bool) {
	var env struct {
		XMLName xml.Name
		Body    struct {
			Fault *struct {
				// SOAP 1.2
				Code struct {
					Value   string `xml:"Value"`
					Subcode struct {
						Value string `xml:"Value"`
					} `xml:"Subcode"`
				} `xml:"Code"`
				Reason struct {
					Text []string `xml:"Text"`
				} `xml:"Reason"`
				// SOAP 1.1
				FaultCode   string `xml:"faultcode"`
				FaultString string `xml:"faultstring"`
			} `xml:"Fault"`
		} `xml:"Body"`
	}
	if xml.NewDecoder(bytes.NewReader(data)).Decode(&env) != nil || env.Body.Fault == nil ||
		env.XMLName.Local != "Envelope" || (env.XMLName.Space != soap12NS && env.XMLName.Space != soap11NS) {
		return nil, false
	}
	raw := env.Body.Fault
	f := &Fault{Code: local(raw.Code.Value), Subcode: local(raw.Code.Subcode.Value)}
	if len(raw.Reason.Text) > 0 {
		f.Reason = raw.Reason.Text[0]
	}
	if f.Code == "" {
		f.Code = local(raw.FaultCode)
		f.Reason = raw.FaultString
	}
	f.Reason = clip(oneLine(f.Reason))
	return f, true
}

// local drops a QName's prefix and clips it.
func local(qname string) string {
	qname = strings.TrimSpace(qname)
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		qname = qname[i+1:]
	}
	return clip(qname)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

// scrub removes every secret from the fault's text, in case a server
// echoes what it was sent.
func (f *Fault) scrub(secrets ...string) {
	for _, s := range secrets {
		if len(s) >= 4 {
			f.Reason = strings.ReplaceAll(f.Reason, s, "[redacted]")
			f.Subcode = strings.ReplaceAll(f.Subcode, s, "[redacted]")
			f.Code = strings.ReplaceAll(f.Code, s, "[redacted]")
		}
	}
}

// Interface guards.
var _ error = (*Fault)(nil)
