package plugin

// Mutual TLS between the host and a plugin.
//
// go-plugin's AutoMTLS generates a P-521 key on each side and pays for
// P-521 signatures in every handshake (the main connection and each
// broker connection): about 18 ms of a plugin's cold start on our 2-core
// machines, more than half of it. We keep the same shape (a fresh,
// self-signed certificate per side, per process, each side trusting only
// the other's) with Ed25519, whose keys and signatures cost microseconds.
//
// The host generates both key pairs and hands the plugin its pair through
// the environment of the child process. Only the same user (or root) can
// read a process's environment, and they can read the host's memory as
// well, so this gives away nothing AutoMTLS protects. The plugin removes
// the variable at once, so commands it runs (an assertion command) do not
// inherit it.

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// tlsEnv carries the plugin's certificate, key and the host's certificate.
const tlsEnv = "CREDHOST_PLUGIN_TLS"

type tlsPairing struct {
	HostCert   []byte `json:"host_cert"`   // DER
	PluginCert []byte `json:"plugin_cert"` // DER
	PluginKey  []byte `json:"plugin_key"`  // PKCS#8 DER
}

// newPairing returns the host's TLS config for one plugin process and the
// environment entry that gives the plugin its side.
func newPairing() (*tls.Config, string, error) {
	hostCert, hostKey, err := selfSigned("credhost host")
	if err != nil {
		return nil, "", err
	}
	pluginCert, pluginKey, err := selfSigned("credhost plugin")
	if err != nil {
		return nil, "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(pluginKey)
	if err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(tlsPairing{HostCert: hostCert, PluginCert: pluginCert, PluginKey: keyDER})
	if err != nil {
		return nil, "", err
	}
	cfg, err := mutualTLS(hostCert, hostKey, pluginCert)
	if err != nil {
		return nil, "", err
	}
	return cfg, tlsEnv + "=" + base64.StdEncoding.EncodeToString(b), nil
}

// pluginTLS is the plugin's go-plugin TLSProvider: its side of the
// pairing. Without the variable (a test harness, a host that predates
// it), it returns nil and go-plugin falls back to AutoMTLS or plain.
func pluginTLS() (*tls.Config, error) {
	v, ok := os.LookupEnv(tlsEnv)
	if !ok {
		return nil, nil
	}
	_ = os.Unsetenv(tlsEnv)
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tlsEnv, err)
	}
	var p tlsPairing
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", tlsEnv, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(p.PluginKey)
	if err != nil {
		return nil, fmt.Errorf("%s: plugin key: %w", tlsEnv, err)
	}
	return mutualTLS(p.PluginCert, key, p.HostCert)
}

// mutualTLS is one side's config: present own, accept only peer, as
// client (broker dials) and as server (main connection, broker accepts).
func mutualTLS(ownDER []byte, ownKey any, peerDER []byte) (*tls.Config, error) {
	peer, err := x509.ParseCertificate(peerDER)
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(peer)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{ownDER}, PrivateKey: ownKey}},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ServerName:   "localhost",
		MinVersion:   tls.VersionTLS13,
	}, nil
}

func selfSigned(cn string) ([]byte, ed25519.PrivateKey, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              []string{"localhost"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, nil, errors.Join(errors.New("create certificate"), err)
	}
	return der, key, nil
}
