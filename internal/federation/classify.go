package federation

import (
	"context"
	"errors"
	"net/http"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/sdk/msalerr"
)

// Hints of classified federation errors.
const (
	HintFederationAuth = "the federation server (AD FS) refused the username or password; check them, or sign in interactively (authcode or devicecode)"
	HintFederationDown = "the federation server (AD FS) could not issue a token; check that it is reachable and healthy, or sign in interactively"
)

// Classify returns err, an error of this package's Client or parsers, as
// a *core.Error of flow:
//
//   - a Fault that refuses the credentials is KindFailed with Code 50126,
//     the code Entra ID gives a wrong password of a managed user, so that
//     callers match one code for one cause whoever checked the password;
//   - other faults, HTTP errors and malformed documents are KindFailed
//     with a hint (429 and 5xx say so);
//   - cancellation, deadlines, network and TLS failures are classified as
//     msalerr.Classify does.
//
// Flows refine this where their context says more (IWA turns a refused
// Negotiate into KindUnavailable). nil stays nil.
func Classify(flow string, err error) error {
	if err == nil {
		return nil
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		return msalerr.Classify(flow, err)
	}
	var f *Fault
	if errors.As(err, &f) {
		if f.AuthenticationFailed() {
			return &core.Error{Kind: core.KindFailed, Flow: flow, Code: 50126, OAuthCode: "invalid_grant", Err: err, Hint: HintFederationAuth}
		}
		return &core.Error{Kind: core.KindFailed, Flow: flow, Err: err, Hint: HintFederationDown}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return msalerr.Classify(flow, err)
	}
	var he *HTTPError
	if errors.As(err, &he) {
		e := &core.Error{Kind: core.KindFailed, Flow: flow, Err: err, Hint: HintFederationDown}
		switch {
		case he.Status == http.StatusTooManyRequests:
			e.Hint = msalerr.HintThrottled
		case he.Status >= 500:
			e.Hint = msalerr.HintServer
		}
		return e
	}
	if errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnknownSAML) || errors.Is(err, ErrNoEndpoint) {
		return &core.Error{Kind: core.KindFailed, Flow: flow, Err: err, Hint: HintFederationDown}
	}
	return msalerr.Classify(flow, err)
}
