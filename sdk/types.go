package sdk

import "github.com/credhost/credhost/core"

// The contract, re-exported so that a plugin imports only sdk (and the
// sdk's helper packages), never core: sdk is the plugin author's whole
// world. Embedders import sdk/client.
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
	// Checker is the optional doctor check of a Flow.
	Checker = core.Checker
	// CredentialFunc adapts a function to Credential.
	CredentialFunc = core.CredentialFunc
	// Chain tries credentials in order (the default chain).
	Chain = core.Chain
	// ChainMember is one credential of a Chain.
	ChainMember = core.ChainMember
	// ChainOptions tunes a Chain.
	ChainOptions = core.ChainOptions
	// Attempt is one member's outcome in a ChainError.
	Attempt = core.Attempt
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
	// SignInRecord, saved as JSON under "<key>#signin" after a sign-in,
	// is what `credhost accounts` lists (the host never reads flow state).
	SignInRecord = core.SignInRecord
	// ConditionalCache is the host's Cache under protocol 3: LoadIfChanged
	// skips a blob the flow already holds.
	ConditionalCache = core.ConditionalCache
	// Store is a token store: a Cache that can also list, delete and close.
	Store = core.Store
	// UI reaches the user through the host.
	UI = core.UI
	// Prompt is an instruction for the user.
	Prompt = core.Prompt
	// ConfigError lists a flow's settings problems.
	ConfigError = core.ConfigError
	// FieldError is one problem of a ConfigError.
	FieldError = core.FieldError
	// MemoryCache is an in-process Cache (tests, one-shot flows).
	MemoryCache = core.MemoryCache
)

// MaxTokenLifetime caps how long credhost keeps and serves a token,
// whatever the identity provider's expires_in says.
const MaxTokenLifetime = core.MaxTokenLifetime

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

// NewChain returns a chain of members for profile.
func NewChain(profile string, members []ChainMember, opts *ChainOptions) (*Chain, error) {
	return core.NewChain(profile, members, opts)
}

// SignInSuffix ends the cache key of a SignInRecord: "<state key>#signin".
const SignInSuffix = core.SignInSuffix
