package config

import (
	"strings"
	"testing"
)

func TestAgentTable(t *testing.T) {
	f, err := Parse("c.toml", []byte("[agent]\nenabled = false\n"))
	if err != nil || !f.Agent.Disabled || !f.Agent.IsSet() {
		t.Fatalf("enabled = false: %+v, %v", f.Agent, err)
	}
	f, err = Parse("c.toml", []byte("[agent]\nenabled = true\n"))
	if err != nil || f.Agent.Disabled {
		t.Fatalf("enabled = true: %+v, %v", f.Agent, err)
	}
	if f, err = Parse("c.toml", nil); err != nil || f.Agent.Disabled {
		t.Fatalf("no [agent]: %+v, %v", f.Agent, err)
	}
	for body, want := range map[string]string{
		"[agent]\nenabled = \"no\"\n": "c.toml:2:1: agent.enabled: expected true or false",
		"[agent]\nenable = false\n":   "agent.enable: unknown key",
	} {
		if _, err := Parse("c.toml", []byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
