package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestDocsProfiles checks the examples of docs/profiles.md: the user file
// parses and chooses as the page says, and the policy loads as a system
// file and refuses what it says it refuses.
func TestDocsProfiles(t *testing.T) {
	data, err := os.ReadFile("../../docs/profiles.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, part := range strings.Split(string(data), "```toml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		blocks = append(blocks, block)
	}
	if len(blocks) != 2 {
		t.Fatalf("%d toml blocks in docs/profiles.md, want the user file and the policy", len(blocks))
	}
	l := newLayout(t, "", blocks[0], "")
	f, err := LoadLayers(l.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env    Environment
		want   string
		reason string
	}{
		{fakeEnv(nil, nil, true, "linux"), "laptop", "the only profile without match rules"},
		{fakeEnv(map[string]string{"CI": "true"}, nil, false, "linux"), "ci", "its match rules hold (at " + l.user + `:9:1): env CI = "true"`},
		{fakeEnv(map[string]string{EnvKubernetesServiceHost: "10.0.0.1"}, nil, false, "linux"), "k8s", "in a Kubernetes pod"},
		{fakeEnv(map[string]string{"CI": "true", EnvKubernetesServiceHost: "10.0.0.1"}, nil, false, "linux"), "ci", "env CI"},
	}
	for _, tt := range tests {
		c, err := f.Choose("", tt.env)
		if err != nil || c.Name != tt.want || !strings.Contains(c.Reason, tt.reason) {
			t.Errorf("chose %+v, %v; want %s because %q", c, err, tt.want, tt.reason)
		}
	}

	l = newLayout(t, blocks[1], blocks[0], "")
	f, err = LoadLayers(l.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Profile("ci"); err != nil {
		t.Errorf("ci is pinned and allowed: %v", err)
	}
	if _, err := f.Profile("laptop"); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "flow iwa has no pin") {
		t.Errorf("laptop: %v", err)
	}
	if err := f.Policy.CheckPluginVersion("clientcreds", "1.1.0"); !errors.Is(err, ErrPolicy) {
		t.Errorf("old clientcreds: %v", err)
	}
}

// TestDocsReadmeCache: the README's [cache] examples load, each backend
// table in its backend's place.
func TestDocsReadmeCache(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const head = "[profiles.p]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"c\"\nchain = [\"clientcreds\"]\n"
	n := 0
	for _, part := range strings.Split(string(data), "```toml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		if !strings.HasPrefix(block, "[cache]\n") {
			continue
		}
		n++
		f, err := Parse("c.toml", []byte(head+block))
		if err != nil {
			t.Fatalf("README block %d: %v\n%s", n, err, block)
		}
		if len(f.Cache.Settings()) == 0 {
			t.Errorf("README block %d: no %s settings", n, f.Cache.Name())
		}
	}
	if n != 2 {
		t.Errorf("%d [cache] blocks in the README, want the file's and Redis's", n)
	}
}
