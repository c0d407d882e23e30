package plugin

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// pluginSide decodes the environment entry the way a plugin does.
func pluginSide(t *testing.T, env string) *tls.Config {
	t.Helper()
	name, value, _ := strings.Cut(env, "=")
	t.Setenv(name, value)
	cfg, err := pluginTLS()
	if err != nil || cfg == nil {
		t.Fatalf("pluginTLS: %v", err)
	}
	if _, still := os.LookupEnv(tlsEnv); still {
		t.Fatal("the plugin left its TLS key in its environment, where child processes inherit it")
	}
	return cfg
}

func handshake(t *testing.T, server, client *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err == nil {
		err = c.Handshake()
		c.Close()
	}
	if serr := <-done; err == nil {
		err = serr
	}
	return err
}

func TestMutualTLSPairing(t *testing.T) {
	hostA, envA, err := newPairing()
	if err != nil {
		t.Fatal(err)
	}
	pluginA := pluginSide(t, envA)
	// Both directions: the host dials the plugin, the plugin dials the
	// host's broker.
	if err := handshake(t, pluginA, hostA); err != nil {
		t.Fatalf("host → plugin: %v", err)
	}
	if err := handshake(t, hostA, pluginA); err != nil {
		t.Fatalf("plugin → host: %v", err)
	}
	// Another pairing's keys are strangers.
	hostB, envB, err := newPairing()
	if err != nil {
		t.Fatal(err)
	}
	pluginB := pluginSide(t, envB)
	if err := handshake(t, pluginA, hostB); err == nil {
		t.Fatal("a foreign host was accepted by the plugin")
	}
	if err := handshake(t, hostA, pluginB); err == nil {
		t.Fatal("a foreign plugin was accepted by the host")
	}
}

func TestPluginTLSRejectsGarbage(t *testing.T) {
	for _, v := range []string{"!!", base64.StdEncoding.EncodeToString([]byte("{")), base64.StdEncoding.EncodeToString(mustJSON(t, tlsPairing{PluginKey: []byte{1}}))} {
		t.Setenv(tlsEnv, v)
		if _, err := pluginTLS(); err == nil {
			t.Errorf("pluginTLS accepted %q", v)
		}
	}
	os.Unsetenv(tlsEnv)
	if cfg, err := pluginTLS(); cfg != nil || err != nil {
		t.Fatalf("no pairing: %v %v, want nil, nil", cfg, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
