package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/credhost/credhost/sdk"
)

// The variables this flow reads from the machine (Description.Environment):
// the ones MSAL's managedidentity reads to pick its source and build its
// requests, the IMDS authority override of aad-pod-identity, and where to
// read the DMI asset tag.
const (
	envIdentityEndpoint   = "IDENTITY_ENDPOINT"
	envIdentityHeader     = "IDENTITY_HEADER"
	envIdentityThumbprint = "IDENTITY_SERVER_THUMBPRINT"
	envIMDSEndpoint       = "IMDS_ENDPOINT"
	envMSIEndpoint        = "MSI_ENDPOINT"
	envMSISecret          = "MSI_SECRET"
	envMLClientID         = "DEFAULT_IDENTITY_CLIENT_ID"
	// envPodIdentityHost is the IMDS authority (scheme://host[:port])
	// where aad-pod-identity's NMI answers instead of the link-local
	// address; azidentity honoured it, MSAL declares it but does not.
	envPodIdentityHost = "AZURE_POD_IDENTITY_AUTHORITY_HOST"
	// envAssetTagFile names the file holding the DMI chassis asset tag,
	// for tests and for sysfs mounted elsewhere.
	envAssetTagFile = "CREDHOST_MI_ASSET_TAG_FILE"
)

// msalVars are the variables MSAL reads (managedidentity.GetSource and
// every request of a source other than IMDS). The flow sets them in its
// own process from FlowConfig.Environment or its options (applyEnv).
var msalVars = []string{envIdentityEndpoint, envIdentityHeader, envIdentityThumbprint, envIMDSEndpoint, envMSIEndpoint, envMSISecret, envMLClientID}

// environment is what Describe declares: the host sends these, and only
// these, from its environment.
var environment = append(append([]string{}, msalVars...), envPodIdentityHost, envAssetTagFile)

// IMDS.
const (
	imdsHost            = "169.254.169.254"
	imdsPath            = "/metadata/identity/oauth2/token"
	defaultIMDSEndpoint = "http://" + imdsHost + imdsPath
)

// imdsFallback, set at link time (-X main.imdsFallback=URL), is where
// IMDS requests go when neither imds_endpoint nor
// AZURE_POD_IDENTITY_AUTHORITY_HOST says. Release builds leave it empty
// (IMDS is 169.254.169.254); the test builds of internal/testkit/testbin set it to
// a loopback port that refuses connections, so that no test, whatever
// environment it gives the plugin, can send a packet off the machine.
var imdsFallback string

// Every Azure VM (and so every AKS node and scale set instance) carries
// this DMI chassis asset tag ("Azure" spelled in decimal ASCII codes); the
// Azure Linux agent and cloud-init recognise Azure by it.
const (
	azureAssetTag             = "7783-7084-3265-9085-8269-3286-77"
	defaultAssetTagFile       = "/sys/class/dmi/id/chassis_asset_tag"
	defaultProbeTimeout       = 2 * time.Second
	maxProbeTimeout           = time.Minute
	probeAnswerLimit    int64 = 4 << 10
)

// vmEvidence is what the machine says about being an Azure VM.
type vmEvidence int

const (
	vmUnknown  vmEvidence = iota // no DMI here (not Linux, sysfs hidden): probe
	vmAzure                      // the Azure asset tag: IMDS is there
	vmNotAzure                   // another asset tag: no IMDS, no probe
)

// azureVM reads the DMI chassis asset tag at path. Only Linux exposes it
// as a file; elsewhere, or where the file cannot be read (a container
// without /sys/class/dmi), there is no evidence either way.
func azureVM(path string) (vmEvidence, string) {
	if runtime.GOOS != "linux" && path == defaultAssetTagFile {
		return vmUnknown, "no DMI asset tag on " + runtime.GOOS
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return vmUnknown, fmt.Sprintf("the DMI asset tag cannot be read (%v)", errors.Unwrap(err))
	}
	if strings.TrimSpace(string(b)) == azureAssetTag {
		return vmAzure, "the DMI chassis asset tag is Azure's"
	}
	return vmNotAzure, fmt.Sprintf("the DMI chassis asset tag in %s is not Azure's", path)
}

// detectSource sets env in this process and asks MSAL which source it
// will use, exactly as it will decide when asked for a token (it also
// looks for an Azure Arc agent on disk). The caller holds envMu.
func detectSource(env map[string]string) managedidentity.Source {
	applyEnv(env)
	src, err := managedidentity.GetSource()
	if err != nil {
		return managedidentity.DefaultToIMDS
	}
	return src
}

// applyEnv makes msalVars in this process exactly env's. The caller holds
// envMu. Secrets (IDENTITY_HEADER) land in the plugin's own environment,
// where Azure puts them too, and nowhere else: the plugin starts no
// processes.
func applyEnv(env map[string]string) {
	for _, k := range msalVars {
		if v, ok := env[k]; ok {
			_ = os.Setenv(k, v)
		} else {
			_ = os.Unsetenv(k)
		}
	}
}

// probe asks the IMDS endpoint anything, where nothing local says whether
// this is an Azure VM: IMDS answers every request at once, even one
// without its Metadata header (400), whereas off Azure the link-local
// address refuses, is unreachable or swallows packets. Any HTTP answer
// within probeTimeout means IMDS is there. A success is remembered; a
// failure is not, so the next call probes again.
func (st *state) probe(ctx context.Context) error {
	if st.reachable.Load() {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, st.probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, defaultIMDSEndpoint, nil)
	if err != nil {
		return sdk.Failed(flowName, "IMDS probe: %v", err)
	}
	resp, err := st.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return &sdk.Error{Kind: sdk.KindFailed, Flow: flowName, Err: ctx.Err()}
		}
		e := sdk.Unavailable(flowName, "no managed identity here: %s, and IMDS (%s) gave no answer within %v", st.evidence, st.imdsEndpoint, st.probeTimeout)
		e.Hint = "outside Azure this is expected; on Azure check that the resource has a managed identity (on App Service, Functions, Arc, Cloud Shell or Service Fabric the platform sets IDENTITY_ENDPOINT or MSI_ENDPOINT)"
		return e
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, probeAnswerLimit))
	_ = resp.Body.Close()
	st.reachable.Store(true)
	return nil
}
