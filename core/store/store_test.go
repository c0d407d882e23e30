package store

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/credhost/credhost/core"
)

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xA5}, KeySize)
	tests := []struct {
		name    string
		in      string
		want    []byte
		wantErr bool
	}{
		{"raw 32 bytes", string(raw), raw, false},
		{"raw with spaces kept", strings.Repeat(" ", 32), []byte(strings.Repeat(" ", 32)), false},
		{"hex", hex.EncodeToString(raw), raw, false},
		{"base64 std", base64.StdEncoding.EncodeToString(raw), raw, false},
		{"base64 std newline", base64.StdEncoding.EncodeToString(raw) + "\n", raw, false},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(raw), raw, false},
		{"empty", "", nil, true},
		{"blank", "   \n", nil, true},
		{"short", "c2hvcnQ=", nil, true},
		{"base64 of 31 bytes", base64.StdEncoding.EncodeToString(raw[:31]), nil, true},
		{"not base64", strings.Repeat("!", 44), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(core.NewSecret(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if tt.in != "" && strings.Contains(err.Error(), tt.in) && strings.TrimSpace(tt.in) != "" {
					t.Fatalf("error text contains the key: %v", err)
				}
				return
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("key = %x, want %x", got, tt.want)
			}
		})
	}
}

func TestGenerateKeyParses(t *testing.T) {
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(s)
	if err != nil || len(k) != KeySize {
		t.Fatalf("ParseKey(GenerateKey()) = %d bytes, %v", len(k), err)
	}
}

func TestCipher(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, KeySize)
	k2 := bytes.Repeat([]byte{2}, KeySize)
	c1, err := NewCipher(k1)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := NewCipher(k2)
	sealed, err := c1.Seal([]byte("hello"), []byte("name-a"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len("hello")+SealOverhead {
		t.Fatalf("sealed length %d, want %d", len(sealed), len("hello")+SealOverhead)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name    string
		c       *Cipher
		sealed  []byte
		aad     string
		want    string
		wantErr error
	}{
		{"round trip", c1, sealed, "name-a", "hello", nil},
		{"other key", c2, sealed, "name-a", "", ErrWrongKey},
		{"swapped name", c1, sealed, "name-b", "", ErrDamaged},
		{"flipped bit", c1, flipped, "name-a", "", ErrDamaged},
		{"truncated", c1, sealed[:20], "name-a", "", ErrDamaged},
		{"empty", c1, nil, "name-a", "", ErrDamaged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.Open(tt.sealed, []byte(tt.aad))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKDFParamsValidate(t *testing.T) {
	tests := []struct {
		p  KDFParams
		ok bool
	}{
		{DefaultKDFParams, true},
		{KDFParams{Time: 0, MemoryKiB: 1024, Threads: 1}, false},
		{KDFParams{Time: 1, MemoryKiB: 1 << 30, Threads: 1}, false},
		{KDFParams{Time: 1, MemoryKiB: 8, Threads: 2}, false},
		{KDFParams{Time: 1, MemoryKiB: 64, Threads: 0}, false},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}

func TestDeriveKey(t *testing.T) {
	p := KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	salt := bytes.Repeat([]byte{7}, SaltSize)
	a, err := DeriveKey(core.NewSecret("correct horse"), salt, p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveKey(core.NewSecret("correct horse"), salt, p)
	c, _ := DeriveKey(core.NewSecret("correct horse"), bytes.Repeat([]byte{8}, SaltSize), p)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) || len(a) != KeySize {
		t.Fatal("derivation is not deterministic per salt")
	}
	if _, err := DeriveKey(core.Secret{}, salt, p); err == nil {
		t.Fatal("empty passphrase accepted")
	}
}
