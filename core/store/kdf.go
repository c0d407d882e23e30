package store

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/argon2"

	"github.com/credhost/credhost/core"
)

// SaltSize is the length of an Argon2id salt.
const SaltSize = 16

// KDFParams are Argon2id parameters. Stores write them next to the salt so
// that files written with other parameters stay readable.
type KDFParams struct {
	// Time is the number of passes.
	Time uint32
	// MemoryKiB is the memory cost in KiB.
	MemoryKiB uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// DefaultKDFParams is OWASP's recommended Argon2id setting (m=19 MiB, t=2,
// p=1): about 30-60 ms per derivation on a laptop, and small enough that a
// process stays within its memory budget.
var DefaultKDFParams = KDFParams{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

// Limits accepted when reading parameters from untrusted input: a damaged or
// hostile header must not make the reader allocate gigabytes.
const (
	maxKDFTime      = 16
	maxKDFMemoryKiB = 1 << 20 // 1 GiB
	maxKDFThreads   = 64
)

// Validate reports whether p is within the limits a reader accepts.
func (p KDFParams) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxKDFTime:
		return fmt.Errorf("argon2id time %d out of range 1..%d", p.Time, maxKDFTime)
	case p.Threads < 1 || p.Threads > maxKDFThreads:
		return fmt.Errorf("argon2id threads %d out of range 1..%d", p.Threads, maxKDFThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB out of range %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxKDFMemoryKiB)
	}
	return nil
}

// NewSalt returns a random Argon2id salt.
func NewSalt() ([]byte, error) {
	s := make([]byte, SaltSize)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("store: generate salt: %w", err)
	}
	return s, nil
}

// DeriveKey derives a KeySize key from passphrase with Argon2id. It is slow
// by design; callers cache the result per salt.
func DeriveKey(passphrase core.Secret, salt []byte, p KDFParams) ([]byte, error) {
	if passphrase.IsZero() {
		return nil, fmt.Errorf("store: the passphrase is empty")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if len(salt) < 8 {
		return nil, fmt.Errorf("store: argon2id salt too short")
	}
	return argon2.IDKey([]byte(passphrase.Reveal()), salt, p.Time, p.MemoryKiB, p.Threads, KeySize), nil
}
