// Package emulatortest starts an emulator.Server for a test.
package emulatortest

import (
	"path/filepath"
	"testing"

	"github.com/credhost/credhost/emulator"
)

// Start serves cfg (DefaultConfig if it has no tenants) on a random
// loopback port, writes the CA certificate to a file in t.TempDir() (see
// CAFile), and closes the server when the test ends. It fails the test if
// the server cannot start.
func Start(t testing.TB, cfg emulator.Config) *emulator.Server {
	t.Helper()
	return StartOptions(t, emulator.Options{Config: cfg})
}

// StartOptions is Start with full options. Addr defaults to a random
// loopback port and CAFile to a file in t.TempDir().
func StartOptions(t testing.TB, opts emulator.Options) *emulator.Server {
	t.Helper()
	if opts.CAFile == "" {
		opts.CAFile = filepath.Join(t.TempDir(), CAFileName)
	}
	srv, err := emulator.New(opts)
	if err != nil {
		t.Fatalf("emulatortest: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("emulatortest: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("emulatortest: %v", err)
		}
	})
	return srv
}

// CAFileName is the base name of the CA file Start writes in t.TempDir().
const CAFileName = "emulator-ca.pem"
