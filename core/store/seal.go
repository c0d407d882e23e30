package store

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// sealVersion is the first byte of a sealed value.
const sealVersion = 1

// SealOverhead is how many bytes Seal adds to a plaintext: a version byte,
// the key check, the 24-byte nonce and the 16-byte tag.
const SealOverhead = 1 + CheckSize + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// ErrDamaged means a sealed value was encrypted with the configured key
// (its key check matches) but does not authenticate or does not parse: it
// was truncated or altered.
var ErrDamaged = errors.New("damaged")

// Cipher seals and opens individual values with XChaCha20-Poly1305 under one
// key. A sealed value is
//
//	version(1) | key check(8) | nonce(24) | ciphertext and tag
//
// and the first 33 bytes are authenticated together with the caller's
// associated data (for Redis, the key name, so that values cannot be
// swapped between keys). A Cipher is safe for concurrent use.
type Cipher struct {
	aead  cipher.AEAD
	check [CheckSize]byte
}

// NewCipher returns a Cipher for a KeySize key.
func NewCipher(key []byte) (*Cipher, error) {
	aead, err := NewAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Cipher{aead: aead, check: KeyCheck(key)}, nil
}

// NewAEAD returns XChaCha20-Poly1305 for a KeySize key.
func NewAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("store: the encryption key must be %d bytes, not %d", KeySize, len(key))
	}
	return chacha20poly1305.NewX(key)
}

// Seal encrypts plaintext with a fresh random nonce.
func (c *Cipher) Seal(plaintext, aad []byte) ([]byte, error) {
	hl := 1 + CheckSize + chacha20poly1305.NonceSizeX
	out := make([]byte, hl, hl+len(plaintext)+chacha20poly1305.Overhead)
	out[0] = sealVersion
	copy(out[1:], c.check[:])
	if _, err := rand.Read(out[1+CheckSize : hl]); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	return c.aead.Seal(out, out[1+CheckSize:hl], plaintext, c.ad(out[:hl], aad)), nil
}

// Open decrypts a value made by Seal with the same associated data. It
// returns an error matching ErrWrongKey if the value was sealed under
// another key, and ErrDamaged if it is truncated, altered or was sealed
// with other associated data.
func (c *Cipher) Open(sealed, aad []byte) ([]byte, error) {
	hl := 1 + CheckSize + chacha20poly1305.NonceSizeX
	if len(sealed) < hl+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("sealed value too short (%d bytes): %w", len(sealed), ErrDamaged)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("unknown sealed format %d: %w", sealed[0], ErrDamaged)
	}
	if subtle.ConstantTimeCompare(sealed[1:1+CheckSize], c.check[:]) != 1 {
		return nil, ErrWrongKey
	}
	pt, err := c.aead.Open(nil, sealed[1+CheckSize:hl], sealed[hl:], c.ad(sealed[:hl], aad))
	if err != nil {
		return nil, fmt.Errorf("authentication failed: %w", ErrDamaged)
	}
	return pt, nil
}

func (c *Cipher) ad(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	return append(append(ad, header...), aad...)
}
