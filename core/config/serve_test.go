package config

import (
	"slices"
	"strings"
	"testing"
)

// TestServeResources: serve_resources is a profile's list of resource
// URIs; anything else is reported at its line, and a project or user
// layer can set it.
func TestServeResources(t *testing.T) {
	const head = "[profiles.p]\nauthority = \"https://login.microsoftonline.com/t\"\nclient_id = \"c\"\nchain = [\"clientcreds\"]\n"
	f, err := Parse("f.toml", []byte(head+"serve_resources = [\"https://storage.azure.com\", \"api://app\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := f.Profiles["p"].ServeResources
	if !slices.Equal(v.List, []string{"https://storage.azure.com", "api://app"}) || v.Origin.Line != 5 {
		t.Fatalf("serve_resources %+v", v)
	}
	for body, want := range map[string]string{
		"serve_resources = \"https://storage.azure.com\"\n": "f.toml:5:1: profiles.p.serve_resources: expected an array of resources",
		"serve_resources = [\"storage\"]\n":                 `"storage" is not a resource URI`,
		"serve_resources = [1]\n":                           "an element is an integer",
		"serve_resources = []\n":                            "is empty: list the resources to serve, or remove it to serve any",
		"serve_resource = []\n":                             `profiles.p.serve_resource: unknown key; did you mean "serve_resources"?`,
	} {
		_, err := Parse("f.toml", []byte(head+body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", body, err, want)
		}
	}
	if _, err := Parse("f.toml", []byte("[defaults]\nserve_resources = [\"https://x\"]\n"+head)); err == nil {
		t.Error("[defaults] took serve_resources")
	}
}
