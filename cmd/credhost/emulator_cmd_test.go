package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credhost/credhost/emulator"
)

// TestEmulatorFlagsAmendTheDirectory: the directory flags of `credhost
// emulator` reach the config, the command is strict unless --lenient,
// unknown client ids are named in the error, and the banner prints
// certificate thumbprints as Entra ID does (upper-case hex SHA-1).
func TestEmulatorFlagsAmendTheDirectory(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}},
		&key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &emulatorCmd{
		appCertificates: []string{emulator.DefaultClientID + "=" + certFile},
		publicFlows:     []string{emulator.DefaultClientID},
		federatedCreds:  []string{emulator.DefaultClientID + "=system:serviceaccount:ns:name"},
	}
	cfg, err := c.config()
	if err != nil {
		t.Fatal(err)
	}
	app := cfg.Tenants[0].Apps[0]
	if len(app.Certificates) != 1 || !app.AllowPublicClientFlows || len(app.FederatedCredentials) != 1 ||
		app.FederatedCredentials[0].Subject != "system:serviceaccount:ns:name" {
		t.Errorf("app %+v", app)
	}
	if cfg.Tenants[0].AutoRegisterResources || cfg.Tenants[0].AutoConsent {
		t.Error("the command's demo tenant is lenient without --lenient")
	}
	if cfg, _ := (&emulatorCmd{lenient: true}).config(); !cfg.Tenants[0].AutoRegisterResources || !cfg.Tenants[0].AutoConsent {
		t.Error("--lenient did not make the tenant lenient")
	}
	for _, bad := range []*emulatorCmd{
		{publicFlows: []string{"nope"}},
		{appCertificates: []string{emulator.DefaultClientID + "=" + filepath.Join(t.TempDir(), "missing.pem")}},
		{federatedCreds: []string{emulator.DefaultClientID}},
	} {
		if _, err := bad.config(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}

	srv, err := emulator.New(emulator.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	var banner bytes.Buffer
	printIdentities(&banner, srv, cfg)
	sum := sha1.Sum(der)
	if want := "certificate thumbprint " + strings.ToUpper(hex.EncodeToString(sum[:])); !strings.Contains(banner.String(), want) {
		t.Errorf("banner lacks %q:\n%s", want, banner.String())
	}
}
