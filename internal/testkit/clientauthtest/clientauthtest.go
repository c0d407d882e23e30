// Package clientauthtest makes test certificates, keys and PFX files for
// the client-authentication tests of every confidential flow. Only tests
// import it.
package clientauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Cert is a leaf certificate with its private key, issued by a test CA.
type Cert struct {
	Key  crypto.Signer
	Leaf *x509.Certificate
	// CA issued Leaf.
	CA *x509.Certificate
}

var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
	rsaErr  error
)

// rsaKey returns one of a few RSA keys made once per test binary (key
// generation is slow under the race detector).
func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			if rsaKeys[j], rsaErr = rsa.GenerateKey(rand.Reader, 2048); rsaErr != nil {
				return
			}
		}
	})
	if rsaErr != nil {
		t.Fatalf("generate RSA key: %v", rsaErr)
	}
	return rsaKeys[i]
}

// NewRSA returns an RSA leaf certificate for cn issued by a fresh CA.
// Calls with different n return different keys (n is 0 or 1).
func NewRSA(t testing.TB, cn string, n int) *Cert {
	t.Helper()
	return issue(t, cn, rsaKey(t, n%2), rsaKey(t, 2))
}

// NewECDSA returns an ECDSA (P-256) leaf certificate, which Entra ID cannot
// use for client assertions.
func NewECDSA(t testing.TB, cn string) *Cert {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate ECDSA key: %v", err)
	}
	return issue(t, cn, k, rsaKey(t, 2))
}

func issue(t testing.TB, cn string, key crypto.Signer, caKey *rsa.PrivateKey) *Cert {
	t.Helper()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "credhost test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatalf("create CA: %v", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano() + 1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatalf("create leaf: %v", err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	return &Cert{Key: key, Leaf: leaf, CA: ca}
}

// CertPEM returns the leaf certificate alone, as an app registration holds
// it.
func (c *Cert) CertPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw}))
}

// KeyForm says how KeyPEM encodes the key.
type KeyForm int

// Key encodings.
const (
	PKCS8 KeyForm = iota
	PKCS1         // RSA only
	SEC1          // EC only
)

// KeyPEM returns the private key as PEM.
func (c *Cert) KeyPEM(t testing.TB, form KeyForm) []byte {
	t.Helper()
	var (
		der []byte
		typ string
		err error
	)
	switch form {
	case PKCS1:
		der, typ = x509.MarshalPKCS1PrivateKey(c.Key.(*rsa.PrivateKey)), "RSA PRIVATE KEY"
	case SEC1:
		der, err = x509.MarshalECPrivateKey(c.Key.(*ecdsa.PrivateKey))
		typ = "EC PRIVATE KEY"
	default:
		der, err = x509.MarshalPKCS8PrivateKey(c.Key)
		typ = "PRIVATE KEY"
	}
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// PEM returns leaf, CA and key in one PEM file.
func (c *Cert) PEM(t testing.TB, form KeyForm) []byte {
	t.Helper()
	out := []byte(c.CertPEM())
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.CA.Raw})...)
	return append(out, c.KeyPEM(t, form)...)
}

// LegacyPFX returns a PKCS#12 file with the key, leaf and CA, encrypted
// with 3DES and a SHA-1 MAC (`openssl pkcs12 -export -legacy`).
func (c *Cert) LegacyPFX(t testing.TB, password string) []byte {
	t.Helper()
	pfx, err := pkcs12.LegacyDES.Encode(c.Key, c.Leaf, []*x509.Certificate{c.CA}, password)
	if err != nil {
		t.Fatalf("encode legacy PFX: %v", err)
	}
	return pfx
}

// ModernPFX returns a PKCS#12 file encrypted with AES-256/PBES2 and a
// SHA-256 MAC, the OpenSSL 3 default.
func (c *Cert) ModernPFX(t testing.TB, password string) []byte {
	t.Helper()
	pfx, err := pkcs12.Modern2023.Encode(c.Key, c.Leaf, []*x509.Certificate{c.CA}, password)
	if err != nil {
		t.Fatalf("encode modern PFX: %v", err)
	}
	return pfx
}
