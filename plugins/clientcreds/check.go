package main

import (
	"context"

	"github.com/credhost/credhost/internal/clientauth"
	"github.com/credhost/credhost/sdk"
)

// Check implements sdk.Checker: once Configure accepted a credential
// (the secret resolved, the certificate parsed, the assertion source
// set), client credentials run anywhere the IdP can be reached, which
// only --probe finds out.
func (f *flow) Check(context.Context, sdk.Services) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == nil {
		return clientauth.NotConfigured(flowName)
	}
	return nil
}

var _ sdk.Checker = (*flow)(nil)
