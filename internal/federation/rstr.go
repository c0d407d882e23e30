package federation

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/credhost/credhost/core"
)

// SOAP envelope namespaces: WS-Trust servers answer in SOAP 1.2, some
// faults come in SOAP 1.1.
const (
	soap12NS = "http://www.w3.org/2003/05/soap-envelope"
	soap11NS = "http://schemas.xmlsoap.org/soap/envelope/"
)

// ParseRSTR reads a WS-Trust response (a SOAP envelope whose body holds a
// RequestSecurityTokenResponseCollection for 1.3, or a
// RequestSecurityTokenResponse for 2005) and returns the SAML assertion
// of its RequestedSecurityToken, byte for byte, with its version. A SOAP
// fault is returned as a *Fault error. The assertion must be
// self-contained (declare its own SAML namespace, as AD FS does): it is
// sent on without its envelope.
func ParseRSTR(data []byte) (Assertion, error) {
	if err := checkXML(data); err != nil {
		return Assertion{}, fmt.Errorf("federation: WS-Trust response: %w", err)
	}
	if f, ok := parseFault(data); ok {
		return Assertion{}, f
	}
	start, end, err := findAssertion(data)
	if err != nil {
		return Assertion{}, fmt.Errorf("federation: WS-Trust response: %w", err)
	}
	raw := data[start:end]
	info, err := ParseSAML(raw)
	if err != nil {
		return Assertion{}, fmt.Errorf("federation: WS-Trust response: the assertion is not a self-contained SAML assertion: %w", err)
	}
	return Assertion{XML: core.NewSecret(string(raw)), Version: info.Version, Info: info}, nil
}

// errNoToken is returned when a response holds no assertion.
var errNoToken = errors.New("no RequestedSecurityToken with an Assertion in the response")

// findAssertion returns the byte range of the first element child of the
// first RequestedSecurityToken inside Envelope/Body, which must be an
// Assertion. It walks tokens rather than unmarshalling, so that the
// range is exact: a re-encoded assertion would break its signature.
func findAssertion(data []byte) (int, int, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var path []string
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			return 0, 0, errNoToken
		}
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %v", ErrMalformed, shortXMLErr(err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(path) == 0 && (t.Name.Local != "Envelope" || (t.Name.Space != soap12NS && t.Name.Space != soap11NS)) {
				return 0, 0, fmt.Errorf("root element is %q, want a SOAP Envelope", clip(t.Name.Local))
			}
			if len(path) >= 2 && path[len(path)-1] == "RequestedSecurityToken" && path[1] == "Body" {
				switch t.Name.Local {
				case "Assertion":
				case "EncryptedAssertion":
					return 0, 0, errors.New("the server sent an encrypted assertion, which Entra ID does not accept from a public client")
				default:
					return 0, 0, fmt.Errorf("the requested token is a %q, not a SAML assertion", clip(t.Name.Local))
				}
				if err := d.Skip(); err != nil {
					return 0, 0, fmt.Errorf("%w: %v", ErrMalformed, shortXMLErr(err))
				}
				return int(before), int(d.InputOffset()), nil
			}
			path = append(path, t.Name.Local)
		case xml.EndElement:
			path = path[:len(path)-1]
		}
	}
}
