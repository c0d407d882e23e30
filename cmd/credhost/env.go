package main

// Environment variables the CLI reads. The AZURE_* variables are read by
// core/config (profile overrides), and CREDHOST_PLUGIN_DIR by core/host
// (plugin discovery, shared with the sdk), not here.
const (
	envConfig    = "CREDHOST_CONFIG"     // config file path
	envProfile   = "CREDHOST_PROFILE"    // profile name
	envLogLevel  = "CREDHOST_LOG_LEVEL"  // trace|debug|info|warn|error
	envLogFormat = "CREDHOST_LOG_FORMAT" // auto|console|json
)

// envKubernetesExecInfo is what kubectl gives an exec credential plugin:
// a JSON ExecCredential whose spec.interactive says whether a person can
// answer a prompt.
const envKubernetesExecInfo = "KUBERNETES_EXEC_INFO"
