package main

import (
	"context"
	"errors"

	"github.com/credhost/credhost/internal/publicclient"
	"github.com/credhost/credhost/sdk"
)

// Check implements sdk.Checker, with GetToken's rules and no network:
// in web-app mode it can always run; interactive authcode runs where a refresh token makes a silent sign-in possible, or
// where there is a browser the user can see and someone to tell about it.
func (f *flow) Check(ctx context.Context, host sdk.Services) error {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return sdk.Unavailable(flowName, "not configured")
	}
	if st.web != nil {
		// A web app needs no browser or prompt here: its users sign in
		// through its own pages.
		return nil
	}
	if publicclient.CanRefresh(ctx, host.Cache) {
		return nil
	}
	if _, err := findBrowser(f.env, st.browser); err != nil {
		return &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName, Err: err, Hint: hintNoBrowser}
	}
	if !sdk.CanPrompt(host.UI) {
		return &sdk.Error{Kind: sdk.KindUnavailable, Flow: flowName,
			Err:  errors.New("nobody can see the sign-in prompt here, and no refresh token allows a silent sign-in"),
			Hint: "sign in once from a terminal with `credhost login`; later calls refresh silently"}
	}
	return nil
}

// Interface guards.
var _ sdk.Checker = (*flow)(nil)
