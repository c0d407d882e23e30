package sdk

import "github.com/credhost/credhost/core"

// The contract, re-exported so that plugins and embedders import only sdk.
type (
	// Credential gets tokens; see core.Credential.
	Credential = core.Credential
	// TokenRequest says what token is wanted.
	TokenRequest = core.TokenRequest
	// AuthorizationCode is a code to redeem, in TokenRequest.AuthorizationCode.
	AuthorizationCode = core.AuthorizationCode
	// Token is an access token and what is known about it.
	Token = core.Token
	// Account identifies a signed-in user.
	Account = core.Account
	// Secret is a value that never prints.
	Secret = core.Secret
	// Error is a classified flow error.
	Error = core.Error
	// ChainError lists every attempt of a chain.
	ChainError = core.ChainError
	// Kind classifies errors for the chain.
	Kind = core.Kind
	// Flow is what a plugin implements.
	Flow = core.Flow
	// Description is what a flow says about itself.
	Description = core.Description
	// OptionSpec describes one setting of a flow.
	OptionSpec = core.OptionSpec
	// FlowConfig is a profile's resolved settings for a flow.
	FlowConfig = core.FlowConfig
	// Services are the host services a flow uses.
	Services = core.Services
	// Cache is host-owned flow state.
	Cache = core.Cache
	// Blob is a versioned cache value.
	Blob = core.Blob
	// Store is a token store: a Cache that can also list, delete and close.
	Store = core.Store
	// UI reaches the user through the host.
	UI = core.UI
	// Prompt is an instruction for the user.
	Prompt = core.Prompt
	// ConfigError lists a flow's settings problems.
	ConfigError = core.ConfigError
)

// Error kinds.
const (
	KindFailed              = core.KindFailed
	KindUnavailable         = core.KindUnavailable
	KindInteractionRequired = core.KindInteractionRequired
)

// NewSecret wraps a secret value.
func NewSecret(s string) Secret { return core.NewSecret(s) }

// KindOf returns the kind of err (KindFailed when unclassified).
func KindOf(err error) Kind { return core.KindOf(err) }

// Unavailable returns a KindUnavailable error for flow.
func Unavailable(flow, format string, args ...any) *Error {
	return core.Unavailable(flow, format, args...)
}

// Failed returns a KindFailed error for flow.
func Failed(flow, format string, args ...any) *Error { return core.Failed(flow, format, args...) }

// NoUI is the UI of a call nobody watches; see CanPrompt.
var NoUI = core.NoUI

// ErrCacheConflict is what Cache.Save returns when the entry changed since
// it was loaded: reload, merge, save again.
var ErrCacheConflict = core.ErrCacheConflict

// CanPrompt reports whether ui reaches a person. Check it before doing
// anything that needs the user (asking the IdP for a device code).
func CanPrompt(ui UI) bool { return core.CanPrompt(ui) }
