package main

import (
	"errors"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/host"
)

// Exit codes. Scripts and kubectl can tell why credhost gave no token.
const (
	exitOK                  = 0
	exitFailed              = 1 // the IdP or a flow refused, or something broke
	exitUsage               = 2 // bad flags, bad configuration
	exitUnavailable         = 3 // no flow of the chain can run here
	exitInteractionRequired = 4 // the user must sign in interactively
)

const exitCodesHelp = `Exit codes:
  0  ok
  1  failed: the identity provider or a flow refused (see the error)
  2  usage or configuration error (config validate: any error, an unknown flow too)
  3  unavailable: no flow of the profile's chain can run here (doctor: no member can)
  4  interaction required: sign in interactively (credhost login)`

// usageError marks errors the user fixes by changing flags or config.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var u usageError
	var ce *host.ConfigError
	if errors.As(err, &u) || errors.As(err, &ce) {
		return exitUsage
	}
	switch core.KindOf(err) {
	case core.KindUnavailable:
		return exitUnavailable
	case core.KindInteractionRequired:
		return exitInteractionRequired
	default:
		return exitFailed
	}
}
