package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// azidentityBudget bounds each azidentity call measured here: its
// ManagedIdentityCredential waits a minute per try against an endpoint
// that never answers, so the measurement says "more than this".
const azidentityBudget = 15 * time.Second

// loopbackOnly is the transport azidentity is given: its IMDS requests
// (always for http://169.254.169.254, MSAL has no setting) go to target
// on loopback instead, and its dialer refuses any address that is not
// loopback, so nothing can leave the machine even by mistake.
func loopbackOnly(target string) *http.Client {
	u, _ := url.Parse(target)
	d := &net.Dialer{Timeout: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("refusing to dial %s: tests stay on loopback", address)
		}
		return nil
	}}
	return &http.Client{Transport: imdsRedirect{target: u, next: &http.Transport{Proxy: nil, DialContext: d.DialContext}}}
}

// clearSourceVars makes MSAL (inside azidentity) pick IMDS, whatever the
// test process inherited.
func clearSourceVars(b *testing.B) {
	for _, k := range append(msalVars, envPodIdentityHost, "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE") {
		b.Setenv(k, "") // restores it after the benchmark
		_ = os.Unsetenv(k)
	}
}

// BenchmarkAzidentityManagedIdentityCredentialSilent measures azidentity's
// ManagedIdentityCredential where IMDS swallows requests: its IMDS
// requests redirected (ClientOptions.Transport) to a loopback listener
// that never answers. Run with -benchtime=1x; it reports whether the call
// ended by itself within azidentityBudget.
func BenchmarkAzidentityManagedIdentityCredentialSilent(b *testing.B) {
	clearSourceVars(b)
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: loopbackOnly(silentListener(b).endpoint())}})
	if err != nil {
		b.Fatal(err)
	}
	benchAzidentity(b, cred)
}

// BenchmarkAzidentityDefaultCredentialProdSilent is the same for
// DefaultAzureCredential with AZURE_TOKEN_CREDENTIALS=prod (environment,
// workload identity, managed identity: never az), whose managed identity
// probes IMDS for up to a second first.
func BenchmarkAzidentityDefaultCredentialProdSilent(b *testing.B) {
	clearSourceVars(b)
	b.Setenv("AZURE_TOKEN_CREDENTIALS", "prod")
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: loopbackOnly(silentListener(b).endpoint())}})
	if err != nil {
		b.Fatal(err)
	}
	benchAzidentity(b, cred)
}

func benchAzidentity(b *testing.B, cred azcore.TokenCredential) {
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), azidentityBudget)
		_, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://bench/.default"}})
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil {
			b.Fatal("azidentity got a token from a listener that never answers")
		}
		b.Logf("azidentity's error: %v", err)
		if timedOut || errors.Is(err, context.DeadlineExceeded) {
			b.ReportMetric(1, "budget-exceeded")
		}
	}
}
