package core

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/rs/zerolog"
)

// Secret holds a value that must never be printed: an access or refresh
// token, a client secret, a password, an assertion, an encryption key.
//
// Every way of printing it (fmt verbs, JSON, text, zerolog) yields
// "[redacted]"; Reveal returns the value for the one place that must send it
// on the wire. The zero Secret is empty. Secret is a struct, not a string
// type, so that a plain conversion cannot leak it by accident.
type Secret struct{ v string }

const redacted = "[redacted]"

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret value. Call it only where the value leaves the
// process for its legitimate destination.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// Fingerprint is a short, stable SHA-256 prefix that lets logs correlate a
// secret without showing it. An empty secret has an empty fingerprint.
func (s Secret) Fingerprint() string {
	if s.v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s.v))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer so that %#v is redacted too.
func (s Secret) GoString() string { return "core.Secret{" + redacted + "}" }

// Format implements fmt.Formatter: every verb prints "[redacted]".
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalZerologObject implements zerolog.LogObjectMarshaler.
func (s Secret) MarshalZerologObject(e *zerolog.Event) { e.Bool("redacted", true) }

var (
	_ fmt.Formatter              = Secret{}
	_ zerolog.LogObjectMarshaler = Secret{}
)
