package main

import (
	"encoding/json"
	"io"
	"time"

	"github.com/credhost/credhost/core"
)

// execCredentialVersion is the client.authentication.k8s.io version we
// answer with when kubectl does not say which one it wants.
const execCredentialVersion = "client.authentication.k8s.io/v1"

// execInfo is the part of KUBERNETES_EXEC_INFO we read.
type execInfo struct {
	APIVersion string `json:"apiVersion"`
	Spec       struct {
		Interactive *bool `json:"interactive"`
	} `json:"spec"`
}

func readExecInfo(getenv func(string) string) (execInfo, bool) {
	var info execInfo
	raw := getenv(envKubernetesExecInfo)
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

// writeExecCredential prints tok as the ExecCredential kubectl expects,
// in the API version kubectl asked for (v1 or v1beta1; the status fields
// are the same). kubectl caches it until expirationTimestamp.
func writeExecCredential(w io.Writer, tok core.Token, getenv func(string) string) error {
	version := execCredentialVersion
	if info, ok := readExecInfo(getenv); ok && info.APIVersion != "" {
		version = info.APIVersion
	}
	out := struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Status     struct {
			ExpirationTimestamp string `json:"expirationTimestamp"`
			Token               string `json:"token"`
		} `json:"status"`
	}{Kind: "ExecCredential", APIVersion: version}
	out.Status.ExpirationTimestamp = tok.ExpiresOn.UTC().Format(time.RFC3339)
	out.Status.Token = tok.AccessToken.Reveal()
	return json.NewEncoder(w).Encode(out)
}
