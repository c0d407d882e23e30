package main

import (
	"context"
	"errors"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/publicclient"
)

// Check implements core.Checker, with GetToken's rules and no network:
// in web-app mode it can always run; interactive authcode runs where a refresh token makes a silent sign-in possible, or
// where there is a browser the user can see and someone to tell about it.
func (f *flow) Check(ctx context.Context, host core.Services) error {
	f.mu.Lock()
	st := f.state
	f.mu.Unlock()
	if st == nil {
		return core.Unavailable(flowName, "not configured")
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
		return &core.Error{Kind: core.KindUnavailable, Flow: flowName, Err: err, Hint: hintNoBrowser}
	}
	if !core.CanPrompt(host.UI) {
		return &core.Error{Kind: core.KindUnavailable, Flow: flowName,
			Err:  errors.New("nobody can see the sign-in prompt here, and no refresh token allows a silent sign-in"),
			Hint: "sign in once from a terminal with `credhost login`; later calls refresh silently"}
	}
	return nil
}

// Interface guards.
var _ core.Checker = (*flow)(nil)
