package cliflags

import (
	"encoding/json"

	"github.com/credhost/credhost/core/config"
)

// Unattended reports whether the command line or the environment says
// nobody can answer a prompt: --no-prompt, kubectl saying so, or
// GIT_TERMINAL_PROMPT=0. The full CLI and the fast front decide with it,
// so that both ask the agent for the same host.
func Unattended(noPrompt bool, getenv func(string) string) bool {
	return noPrompt || KubectlNonInteractive(getenv) || getenv("GIT_TERMINAL_PROMPT") == "0"
}

// KubectlNonInteractive reports whether kubectl ran us and said nobody can
// answer a prompt (interactiveMode Never, or no terminal). A device code
// nobody sees would only make kubectl wait: such flows are Unavailable.
func KubectlNonInteractive(getenv func(string) string) bool {
	// The part of KUBERNETES_EXEC_INFO we read.
	var info struct {
		Spec struct {
			Interactive *bool `json:"interactive"`
		} `json:"spec"`
	}
	raw := getenv(config.EnvKubernetesExecInfo)
	if raw == "" || json.Unmarshal([]byte(raw), &info) != nil {
		return false
	}
	return info.Spec.Interactive != nil && !*info.Spec.Interactive
}
