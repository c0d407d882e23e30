package main

import "encoding/json"

// kubectlNonInteractive reports whether kubectl ran us and said nobody can
// answer a prompt (interactiveMode Never, or no terminal). A device code
// nobody sees would only make kubectl wait: such flows are Unavailable.
func kubectlNonInteractive(getenv func(string) string) bool {
	raw := getenv(envKubernetesExecInfo)
	if raw == "" {
		return false
	}
	var info struct {
		Spec struct {
			Interactive *bool `json:"interactive"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(raw), &info); err != nil || info.Spec.Interactive == nil {
		return false
	}
	return !*info.Spec.Interactive
}
