package main

import (
	"encoding/json"
	"github.com/credhost/credhost/core/config"
)

// execInfo is the part of KUBERNETES_EXEC_INFO we read.
type execInfo struct {
	APIVersion string `json:"apiVersion"`
	Spec       struct {
		Interactive *bool `json:"interactive"`
	} `json:"spec"`
}

func readExecInfo(getenv func(string) string) (execInfo, bool) {
	var info execInfo
	raw := getenv(config.EnvKubernetesExecInfo)
	if raw == "" || json.Unmarshal([]byte(raw), &info) != nil {
		return execInfo{}, false
	}
	return info, true
}

// kubectlNonInteractive reports whether kubectl ran us and said nobody can
// answer a prompt (interactiveMode Never, or no terminal). A device code
// nobody sees would only make kubectl wait: such flows are Unavailable.
func kubectlNonInteractive(getenv func(string) string) bool {
	info, ok := readExecInfo(getenv)
	return ok && info.Spec.Interactive != nil && !*info.Spec.Interactive
}
