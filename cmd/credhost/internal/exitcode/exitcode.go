// Package exitcode holds credhost's exit codes, so that the full CLI and
// the fast front, which answers some calls alone, end the same way.
// Scripts and kubectl tell from them why credhost gave no token.
package exitcode

import "github.com/credhost/credhost/core"

// The codes.
const (
	OK                  = 0
	Failed              = 1 // the IdP or a flow refused, or something broke
	Usage               = 2 // bad flags, bad configuration
	Unavailable         = 3 // no flow of the chain can run here
	InteractionRequired = 4 // the user must sign in interactively
)

// Help is the table as --help shows it.
const Help = `Exit codes:
  0  ok
  1  failed: the identity provider or a flow refused (see the error)
  2  usage or configuration error (config validate: any error, an unknown flow too)
  3  unavailable: no flow of the profile's chain can run here (doctor: no member can)
  4  interaction required: sign in interactively (credhost login)`

// Of is the code for a token error: Usage when usage says the caller's
// flags or config are at fault, else by the error's kind.
func Of(err error, usage bool) int {
	switch {
	case err == nil:
		return OK
	case usage:
		return Usage
	}
	switch core.KindOf(err) {
	case core.KindUnavailable:
		return Unavailable
	case core.KindInteractionRequired:
		return InteractionRequired
	}
	return Failed
}
