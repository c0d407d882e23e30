package clientauth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"golang.org/x/crypto/pkcs12"

	"github.com/credhost/credhost/core"
)

// legacyPFXHint tells the user how to get a PFX that golang.org/x/crypto
// can read.
const legacyPFXHint = "re-export it with `openssl pkcs12 -export -legacy` (3DES/SHA-1) or use PEM (certificate chain plus unencrypted key)"

func loadCertificate(cfg core.FlowConfig, ce *core.ConfigError) (confidential.Credential, bool) {
	data := []byte(cfg.Secrets[OptCertificate].Reveal())
	password, hasPassword := cfg.Secrets[OptCertificatePassword]

	var (
		certs []*x509.Certificate
		key   crypto.PrivateKey
		field = OptCertificate
		err   error
	)
	if isPEM(data) {
		if hasPassword {
			ce.Add(OptCertificatePassword, "applies only to a PFX certificate; certificate is PEM (keys must be unencrypted), remove certificate_password")
			return confidential.Credential{}, false
		}
		certs, key, err = parsePEM(data)
	} else {
		certs, key, field, err = parsePFX(pfxBytes(data), password.Reveal())
	}
	if err != nil {
		ce.Add(field, "%v", err)
		return confidential.Credential{}, false
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		ce.Add(OptCertificate, "the private key is %s; Entra ID needs an RSA key (client assertions are signed with PS256)", keyType(key))
		return confidential.Credential{}, false
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		ce.Add(OptCertificate, "the private key matches none of its %d certificate(s)", len(certs))
		return confidential.Credential{}, false
	}
	return cred, true
}

func isPEM(data []byte) bool { return bytes.Contains(data, []byte("-----BEGIN ")) }

// pfxBytes accepts a DER PFX or its base64 text (as Key Vault and
// environment variables often carry it).
func pfxBytes(data []byte) []byte {
	if len(data) > 0 && data[0] == 0x30 {
		return data
	}
	s := strings.Join(strings.Fields(string(data)), "")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if der, err := enc.DecodeString(s); err == nil && len(der) > 0 && der[0] == 0x30 {
			return der
		}
	}
	return data
}

// parsePEM reads every CERTIFICATE block and exactly one unencrypted private
// key. Error texts describe the structure only, never key material.
func parsePEM(data []byte) ([]*x509.Certificate, crypto.PrivateKey, error) {
	var (
		certs []*x509.Certificate
		key   crypto.PrivateKey
	)
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if _, ok := block.Headers["DEK-Info"]; ok || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, nil, errors.New("the private key is encrypted; provide it unencrypted (e.g. `openssl pkcs8 -topk8 -nocrypt -in key.pem -out plain.pem`) and protect the file, or use a PFX with certificate_password")
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("CERTIFICATE block %d does not parse", len(certs)+1)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if key != nil {
				return nil, nil, errors.New("holds more than one private key")
			}
			k, err := parseKey(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("the %s block does not parse as PKCS#1, PKCS#8 or SEC 1", block.Type)
			}
			key = k
		}
	}
	switch {
	case len(certs) == 0 && key == nil:
		return nil, nil, errors.New("is PEM but holds no CERTIFICATE and no PRIVATE KEY block")
	case len(certs) == 0:
		return nil, nil, errors.New("holds a private key but no CERTIFICATE block")
	case key == nil:
		return nil, nil, errors.New("holds no private key; append the unencrypted PKCS#1 or PKCS#8 key to the certificate PEM")
	}
	return certs, key, nil
}

// parsePFX decodes a PKCS#12 file with golang.org/x/crypto/pkcs12, which
// reads the legacy algorithms (3DES or RC2 with a SHA-1 MAC) only. It
// returns the field to blame with the error.
func parsePFX(data []byte, password string) ([]*x509.Certificate, crypto.PrivateKey, string, error) {
	blocks, err := pkcs12.ToPEM(data, password)
	if err != nil {
		var ni pkcs12.NotImplementedError
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword):
			if password == "" {
				return nil, nil, OptCertificatePassword, errors.New("the PFX certificate is password protected; set certificate_password")
			}
			return nil, nil, OptCertificatePassword, errors.New("the password does not open the PFX certificate")
		case errors.As(err, &ni):
			return nil, nil, OptCertificate, fmt.Errorf("the PFX uses an algorithm this build cannot read (AES/PBES2 or a SHA-2 MAC, the OpenSSL 3 default); %s", legacyPFXHint)
		case errors.Is(err, pkcs12.ErrDecryption):
			return nil, nil, OptCertificatePassword, errors.New("the PFX certificate could not be decrypted; check certificate_password")
		default:
			return nil, nil, OptCertificate, errors.New("is neither PEM nor a readable PFX/PKCS#12 file")
		}
	}
	var (
		certs []*x509.Certificate
		key   crypto.PrivateKey
	)
	for _, b := range blocks {
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, OptCertificate, fmt.Errorf("certificate %d in the PFX does not parse", len(certs)+1)
			}
			certs = append(certs, c)
		case "PRIVATE KEY":
			if key != nil {
				return nil, nil, OptCertificate, errors.New("the PFX holds more than one private key")
			}
			k, err := parseKey(b.Bytes)
			if err != nil {
				return nil, nil, OptCertificate, errors.New("the private key in the PFX does not parse")
			}
			key = k
		}
	}
	switch {
	case len(certs) == 0:
		return nil, nil, OptCertificate, errors.New("the PFX holds no certificate")
	case key == nil:
		return nil, nil, OptCertificate, errors.New("the PFX holds no private key; export it with the key")
	}
	return certs, key, "", nil
}

// parseKey accepts PKCS#1 RSA, PKCS#8 and SEC 1 EC keys. x/crypto/pkcs12
// labels PKCS#1 and SEC 1 keys "PRIVATE KEY", so every form is tried.
func parseKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("unknown private key format")
}

func keyType(k crypto.PrivateKey) string {
	switch k.(type) {
	case *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PrivateKey, *ed25519.PrivateKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", k)
	}
}
