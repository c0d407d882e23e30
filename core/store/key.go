package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/credhost/credhost/core"
)

// KeySize is the length of an encryption key in bytes (XChaCha20-Poly1305).
const KeySize = 32

// CheckSize is the length of a key check value (see KeyCheck).
const CheckSize = 8

// ErrWrongKey means the data was encrypted with a different key (or
// passphrase) than the one configured. Stores never discard such data: it
// may belong to the user's other key. Match it with errors.Is.
var ErrWrongKey = errors.New("encrypted with a different key")

// ParseKey decodes an encryption key. It accepts, in this order:
//   - exactly 32 raw bytes, used as they are;
//   - 64 hexadecimal digits;
//   - the base64 encoding of 32 bytes (standard or URL alphabet, padded or
//     not), which is what GenerateKey and key files use.
//
// Surrounding white space is ignored for the text forms. The error never
// contains the key.
func ParseKey(s core.Secret) ([]byte, error) {
	v := s.Reveal()
	if len(v) == KeySize {
		return []byte(v), nil
	}
	t := strings.TrimSpace(v)
	if t == "" {
		return nil, errors.New("store: the encryption key is empty")
	}
	if len(t) == 2*KeySize {
		if k, err := hex.DecodeString(t); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(t); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("store: the encryption key must be %d raw bytes, 64 hex digits or the base64 of %d bytes (got %d characters); make one with `head -c32 /dev/urandom | base64`", KeySize, KeySize, len(t))
}

// GenerateKey returns a new random key, base64 encoded (the form ParseKey
// and key files use).
func GenerateKey() (core.Secret, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return core.Secret{}, fmt.Errorf("store: generate key: %w", err)
	}
	return core.NewSecret(base64.StdEncoding.EncodeToString(k)), nil
}

// KeyCheck returns a short value derived from key that is stored beside the
// ciphertext, so that a reader can tell "encrypted with another key" (the
// check differs) from "damaged" (the check matches, authentication fails).
// It is a PRF output and reveals nothing useful about the key.
func KeyCheck(key []byte) [CheckSize]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("credhost store key check v1"))
	var c [CheckSize]byte
	copy(c[:], m.Sum(nil))
	return c
}
