package main

import (
	"errors"

	"github.com/credhost/credhost/cmd/credhost/internal/exitcode"
	"github.com/credhost/credhost/core/host"
)

// Exit codes (exitcode has the table).
const (
	exitOK                  = exitcode.OK
	exitFailed              = exitcode.Failed
	exitUsage               = exitcode.Usage
	exitUnavailable         = exitcode.Unavailable
	exitInteractionRequired = exitcode.InteractionRequired
)

const exitCodesHelp = exitcode.Help

// usageError marks errors the user fixes by changing flags or config.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var u usageError
	var ce *host.ConfigError
	return exitcode.Of(err, errors.As(err, &u) || errors.As(err, &ce))
}
