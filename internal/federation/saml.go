package federation

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/credhost/credhost/core"
)

// SAMLVersion is the version of a SAML assertion.
type SAMLVersion int

// SAML versions a WS-Trust server issues for Entra ID.
const (
	SAMLUnknown SAMLVersion = iota
	SAML11
	SAML2
)

// Namespaces of SAML assertions and the OAuth grant types (RFC 7522 and
// Entra ID's SAML 1.1 variant) that redeem them.
const (
	SAML11Namespace = "urn:oasis:names:tc:SAML:1.0:assertion"
	SAML2Namespace  = "urn:oasis:names:tc:SAML:2.0:assertion"
	GrantSAML11     = "urn:ietf:params:oauth:grant-type:saml1_1-bearer"
	GrantSAML2      = "urn:ietf:params:oauth:grant-type:saml2-bearer"
)

func (v SAMLVersion) String() string {
	switch v {
	case SAML11:
		return "SAML 1.1"
	case SAML2:
		return "SAML 2.0"
	}
	return "unknown SAML version"
}

// GrantType is the grant_type that redeems an assertion of version v at
// the token endpoint, or "" for SAMLUnknown.
func (v SAMLVersion) GrantType() string {
	switch v {
	case SAML11:
		return GrantSAML11
	case SAML2:
		return GrantSAML2
	}
	return ""
}

// ErrUnknownSAML is wrapped when an assertion is neither SAML 1.1 nor 2.0.
var ErrUnknownSAML = errors.New("not a SAML 1.1 or SAML 2.0 assertion")

// SAMLInfo is what a client may read from an assertion it was issued,
// without verifying it (the token endpoint does that). None of it is
// secret, but the assertion itself is.
type SAMLInfo struct {
	Version SAMLVersion
	// ID is AssertionID (1.1) or ID (2.0).
	ID     string
	Issuer string
	// Subject is the NameIdentifier (1.1) or NameID (2.0).
	Subject string
	// NotBefore and NotOnOrAfter come from Conditions; zero if absent.
	NotBefore    time.Time
	NotOnOrAfter time.Time
	Audiences    []string
}

// ParseSAML reads a standalone SAML 1.1 or 2.0 assertion: its root must
// be the Assertion element in one of the two SAML namespaces, declared in
// the assertion itself. It checks the shape (the version attributes) and
// reads the metadata; it verifies no signature.
func ParseSAML(data []byte) (SAMLInfo, error) {
	root, err := parseTree(data)
	if err != nil {
		return SAMLInfo{}, fmt.Errorf("federation: SAML: %w", err)
	}
	if root.XMLName.Local != "Assertion" {
		return SAMLInfo{}, fmt.Errorf("federation: SAML: %w: root element is %q", ErrUnknownSAML, root.XMLName.Local)
	}
	var info SAMLInfo
	switch root.XMLName.Space {
	case SAML11Namespace:
		if root.attr("MajorVersion") != "1" || root.attr("MinorVersion") != "1" {
			return SAMLInfo{}, fmt.Errorf("federation: SAML: %w: SAML 1.x namespace but version %s.%s",
				ErrUnknownSAML, clip(root.attr("MajorVersion")), clip(root.attr("MinorVersion")))
		}
		info.Version = SAML11
		info.ID = root.attr("AssertionID")
		info.Issuer = root.attr("Issuer")
		if ni := root.find("NameIdentifier"); ni != nil {
			info.Subject = ni.text()
		}
	case SAML2Namespace:
		if root.attr("Version") != "2.0" {
			return SAMLInfo{}, fmt.Errorf("federation: SAML: %w: SAML 2 namespace but version %q", ErrUnknownSAML, clip(root.attr("Version")))
		}
		info.Version = SAML2
		info.ID = root.attr("ID")
		info.Issuer = root.child("Issuer").text()
		if ni := root.find("NameID"); ni != nil {
			info.Subject = ni.text()
		}
	default:
		return SAMLInfo{}, fmt.Errorf("federation: SAML: %w: namespace %q", ErrUnknownSAML, clip(root.XMLName.Space))
	}
	if info.ID == "" {
		return SAMLInfo{}, errors.New("federation: SAML: the assertion has no ID")
	}
	if c := root.child("Conditions"); c != nil {
		info.NotBefore, _ = time.Parse(time.RFC3339Nano, c.attr("NotBefore"))
		info.NotOnOrAfter, _ = time.Parse(time.RFC3339Nano, c.attr("NotOnOrAfter"))
		collectAudiences(c, &info.Audiences)
	}
	info.ID, info.Issuer, info.Subject = clip(info.ID), clip(info.Issuer), clip(info.Subject)
	return info, nil
}

func collectAudiences(n *node, out *[]string) {
	for i := range n.Children {
		c := &n.Children[i]
		if c.XMLName.Local == "Audience" {
			if a := c.text(); a != "" && len(*out) < 16 {
				*out = append(*out, clip(a))
			}
			continue
		}
		collectAudiences(c, out)
	}
}

// clip bounds a value read from a document before it reaches an error or
// a log line.
func clip(s string) string {
	const max = 256
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// Assertion is a SAML assertion a WS-Trust server issued: the exact bytes
// of the Assertion element (its signature covers them) and what it is.
type Assertion struct {
	// XML is the assertion element, byte for byte as issued. It is a
	// bearer credential.
	XML     core.Secret
	Version SAMLVersion
	Info    SAMLInfo
}

// GrantType is the grant_type that redeems a.
func (a Assertion) GrantType() string { return a.Version.GrantType() }

// Base64 is the assertion as the token endpoint's assertion parameter
// wants it: standard base64 with padding, as MSAL sends it.
func (a Assertion) Base64() core.Secret {
	return core.NewSecret(base64.StdEncoding.EncodeToString([]byte(a.XML.Reveal())))
}
