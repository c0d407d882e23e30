package config

import (
	"fmt"
	"strings"
)

// The credentials of azidentity's DefaultAzureCredential that credhost
// provides, in its order, as AZURE_TOKEN_CREDENTIALS names them.
const (
	CredEnvironment      = "EnvironmentCredential"
	CredWorkloadIdentity = "WorkloadIdentityCredential"
	CredManagedIdentity  = "ManagedIdentityCredential"
	CredAzureCLI         = "AzureCLICredential"
)

// The flows of the default chain besides clientcreds and ropc.
const (
	FlowManagedIdentity = "managedidentity"
	FlowAzureCLI        = "azurecli"
	// KeyManagedIdentityClientID is managedidentity's user-assigned
	// identity selector, which AZURE_CLIENT_ID sets in the default chain
	// as it does for azidentity's ManagedIdentityCredential.
	KeyManagedIdentityClientID = "client_id"
)

// DefaultClientID is the client id of the profile with no config file
// when AZURE_CLIENT_ID is not set: the Azure CLI's public client, which
// azidentity's developer credentials use too. Managed identity and the
// Azure CLI do not use the profile's client id; it only keys the cache.
const DefaultClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// defaultTenant is the tenant of the profile with no config file when
// AZURE_TENANT_ID is not set.
const defaultTenant = "organizations"

// DefaultMember is one credential of the default chain: the flow that
// provides it here, or why it is skipped.
type DefaultMember struct {
	// Credential is azidentity's name for it (CredEnvironment, ...).
	Credential string
	// Flow is the chain flow that provides it; "" when it is skipped.
	Flow string
	// Skipped says why it is not in the chain: a variable it needs is not
	// set, or an earlier member uses the same flow.
	Skipped string
}

// Name is what the attempt list and `credhost doctor` call the member:
// its flow, or its azidentity name when it is skipped.
func (m DefaultMember) Name() string {
	if m.Flow != "" {
		return m.Flow
	}
	return m.Credential
}

// selectDefault parses AZURE_TOKEN_CREDENTIALS as azidentity's
// NewDefaultAzureCredential does ("dev" and "prod" exactly, credential
// names in any case) and returns the credentials chosen, in order.
func selectDefault(getenv Env) ([]string, error) {
	all := []string{CredEnvironment, CredWorkloadIdentity, CredManagedIdentity, CredAzureCLI}
	v := getenv.get(EnvTokenCredentials)
	switch {
	case v == "":
		return all, nil
	case v == "dev":
		// azidentity adds the Azure Developer CLI and Azure PowerShell,
		// which credhost has no flow for.
		return []string{CredAzureCLI}, nil
	case v == "prod":
		return all[:3], nil
	}
	for _, c := range all {
		if strings.EqualFold(v, c) {
			return []string{c}, nil
		}
	}
	for _, c := range []string{"AzureDeveloperCLICredential", "AzurePowerShellCredential"} {
		if strings.EqualFold(v, c) {
			return nil, fmt.Errorf("env %s: %s %q has no credhost flow: use %q (az) or write a profile", EnvTokenCredentials, "credential", v, CredAzureCLI)
		}
	}
	return nil, fmt.Errorf(`env %s: invalid value %q: use "dev", "prod", or one of %s`, EnvTokenCredentials, v, strings.Join(all, ", "))
}

// DefaultProfile returns the profile named "env" that credhost uses when
// no config file defines a profile: azidentity's DefaultAzureCredential
// as a chain. Its members, in order, are
//
//   - EnvironmentCredential: clientcreds with AZURE_CLIENT_SECRET, else
//     with AZURE_CLIENT_CERTIFICATE_PATH, else ropc with AZURE_USERNAME
//     and AZURE_PASSWORD (EnvCredential);
//   - WorkloadIdentityCredential: clientcreds with
//     AZURE_FEDERATED_TOKEN_FILE (skipped when the environment credential
//     already uses clientcreds: a secret or certificate wins, as in
//     azidentity, where EnvironmentCredential comes first);
//   - ManagedIdentityCredential: managedidentity (AZURE_CLIENT_ID, if
//     set, is the user-assigned identity's client id);
//   - AzureCLICredential: azurecli,
//
// narrowed by AZURE_TOKEN_CREDENTIALS. A member whose variables are not
// set is listed in Default with the reason and left out of Chain; the
// host shows it in the attempt list and in `credhost doctor`. The
// authority is AZURE_AUTHORITY_HOST and AZURE_TENANT_ID
// ("organizations" if unset), the client id AZURE_CLIENT_ID
// (DefaultClientID if unset). Malformed variables are not rejected here:
// call Validate on the result. An invalid AZURE_TOKEN_CREDENTIALS is an
// error, and so is a selection of which nothing is set up.
func DefaultProfile(getenv Env) (*Profile, error) {
	selected, err := selectDefault(getenv)
	if err != nil {
		return nil, err
	}
	o := Origin{Env: envProfileOriginVariables}
	p := &Profile{
		Name:           envProfileName,
		Layer:          LayerEnv,
		Origin:         o,
		ChainOrigin:    o,
		RememberWinner: true,
		Flows:          map[string]map[string]Value{},
		FlowOrigins:    map[string]Origin{},
		ClientID:       Value{Raw: DefaultClientID, Origin: o},
		Authority:      Value{Raw: rewriteAuthority("", "", defaultTenant), Origin: o},
	}
	_ = p.ApplyEnv(getenv) // Validate reports the same problems
	// ApplyEnv set the clientcreds method the variables name; which
	// member it belongs to is decided below.
	clientcreds := p.Flows[FlowClientCreds]
	delete(p.Flows, FlowClientCreds)

	kind, envErr := EnvCredential(getenv)
	wiErr := workloadIdentity(getenv)
	for _, cred := range selected {
		m := DefaultMember{Credential: cred}
		switch cred {
		case CredEnvironment:
			switch {
			case envErr != nil:
				m.Skipped = envErr.Error()
			case kind == EnvUsernamePassword:
				m.Flow = FlowROPC
				p.setEnv(FlowROPC, KeyUsername, getenv.get(EnvUsername), EnvUsername)
				p.setEnv(FlowROPC, KeyPassword, "env:"+EnvPassword, EnvPassword)
			default:
				m.Flow = FlowClientCreds
				if kind == EnvSecret { // as azidentity, which then ignores them
					delete(clientcreds, KeyCertificatePassword)
					delete(clientcreds, KeySendCertificateChain)
				}
			}
		case CredWorkloadIdentity:
			switch {
			case wiErr != nil:
				m.Skipped = wiErr.Error()
			case envErr == nil && kind != EnvUsernamePassword && p.hasDefault(CredEnvironment):
				m.Skipped = fmt.Sprintf("%s is set, but %s comes first and uses the %s", EnvFederatedTokenFile, CredEnvironment, kind)
			default:
				m.Flow = FlowClientCreds
				// Only the federated token file: a secret or certificate
				// belongs to EnvironmentCredential, which is not selected.
				clientcreds = map[string]Value{KeyFederatedTokenFile: {
					Raw: absPath(getenv.get(EnvFederatedTokenFile)), Origin: Origin{Env: EnvFederatedTokenFile}}}
			}
		case CredManagedIdentity:
			m.Flow = FlowManagedIdentity
			if id := getenv.get(EnvClientID); id != "" {
				p.setEnv(FlowManagedIdentity, KeyManagedIdentityClientID, id, EnvClientID)
			}
		case CredAzureCLI:
			m.Flow = FlowAzureCLI
		}
		p.Default = append(p.Default, m)
		if m.Flow != "" {
			p.Chain = append(p.Chain, m.Flow)
			p.FlowOrigins[m.Flow] = o
			if m.Flow == FlowClientCreds {
				p.Flows[FlowClientCreds] = clientcreds
			}
		}
	}
	if len(p.Chain) == 0 {
		var why []string
		for _, m := range p.Default {
			why = append(why, m.Credential+": "+m.Skipped)
		}
		return nil, fmt.Errorf("no config file, and env %s=%s selects nothing set up here: %s", EnvTokenCredentials, getenv.get(EnvTokenCredentials), strings.Join(why, "; "))
	}
	return p, nil
}

// hasDefault reports whether the default chain so far runs cred.
func (p *Profile) hasDefault(cred string) bool {
	for _, m := range p.Default {
		if m.Credential == cred && m.Flow != "" {
			return true
		}
	}
	return false
}
