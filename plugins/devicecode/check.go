package main

import (
	"context"
	"errors"

	"github.com/credhost/credhost/internal/publicclient"
	"github.com/credhost/credhost/sdk"
)

// Check implements sdk.Checker: device code runs wherever someone can
// see the code, or, with nobody watching, where a refresh token makes a
// silent sign-in possible.
func (f *flow) Check(ctx context.Context, host sdk.Services) error {
	f.mu.Lock()
	configured := f.state != nil
	f.mu.Unlock()
	switch {
	case !configured:
		return sdk.Unavailable(flowName, "not configured")
	case sdk.CanPrompt(host.UI) || publicclient.CanRefresh(ctx, host.Cache):
		return nil
	}
	return &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName,
		Err:  errors.New("nobody can see a device code here, and no refresh token allows a silent sign-in"),
		Hint: "sign in once from a terminal with `credhost login`; later calls refresh silently"}
}

var _ sdk.Checker = (*flow)(nil)
