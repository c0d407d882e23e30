package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Flow is one grant, as a plugin implements it. The host drives it through
// the plugin protocol: Describe, then Configure once per process, then
// GetToken any number of times, concurrently.
type Flow interface {
	// Describe says what the flow is. It must not do I/O.
	Describe() Description
	// Configure validates and stores the profile's settings. It must not
	// touch the network. Field problems are returned as *ConfigError.
	Configure(ctx context.Context, cfg FlowConfig) error
	// GetToken acquires a token, using the host's services for state and
	// for talking to the user.
	GetToken(ctx context.Context, req TokenRequest, host Services) (Token, error)
}

// Checker is an optional interface of a Flow, for `credhost doctor`: Check
// says whether the flow could run here now, without any network call (is
// there a browser, a Kerberos ticket, someone to prompt: host.UI is nil
// when nobody can see a prompt). It returns nil when the flow can run, and
// otherwise an *Error, usually of KindUnavailable, saying why and what to
// do.
type Checker interface {
	Check(ctx context.Context, host Services) error
}

// Description is what a flow says about itself.
type Description struct {
	// Name is the flow id: one lowercase word ("clientcreds").
	Name string
	// Version is the plugin's semantic version ("1.2.0").
	Version string
	// Interactive flows may talk to the user (prompts, browsers).
	Interactive bool
	// Options lists every key the flow accepts in its profile section.
	Options []OptionSpec
	// ForbiddenTenants lists authority tenants the flow cannot use, e.g.
	// "common" and "consumers" for device code and IWA.
	ForbiddenTenants []string
	// Environment names the variables of the machine the flow reads
	// (IDENTITY_ENDPOINT for a managed identity). Plugins run with a
	// curated environment: the host delivers the values of exactly these
	// names, from its own environment, in FlowConfig.Environment.
	Environment []string
}

// Option returns the spec of the named option.
func (d Description) Option(name string) (OptionSpec, bool) {
	for _, o := range d.Options {
		if o.Name == name {
			return o, true
		}
	}
	return OptionSpec{}, false
}

// OptionSpec describes one key of a flow's profile section.
type OptionSpec struct {
	Name string
	// Secret options are resolved by the host (inline, env:NAME or
	// file:PATH) and delivered in FlowConfig.Secrets, never in Options.
	Secret bool
	Help   string
}

// FlowConfig is a profile's settings for one flow, resolved by the host.
// A flow never reads configuration files or AZURE_* variables itself.
type FlowConfig struct {
	Profile   string
	Authority string
	ClientID  string
	// Options holds the flow's plain settings.
	Options map[string]string
	// Secrets holds the flow's secret settings, already dereferenced.
	Secrets map[string]Secret
	// CACertificates holds extra PEM roots to trust for HTTPS besides the
	// system pool (the emulator's CA, a corporate TLS proxy).
	CACertificates []byte
	// Environment holds the variables Description.Environment names that
	// are set where the host runs (absent: unset). They are Secrets
	// because some are (IDENTITY_HEADER, MSI_SECRET).
	Environment map[string]Secret
}

// Services are the host's services a flow may use during GetToken.
type Services struct {
	// Cache stores the flow's state (an MSAL cache blob) per partition.
	// It is nil when the host keeps no state for the flow; the flow then
	// keeps what it needs in memory.
	Cache Cache
	// UI shows prompts and progress to the user.
	UI UI
}

// Cache is host-owned storage of opaque blobs, one per partition key. The
// host scopes keys to the calling profile and flow, so a flow only chooses
// a sub-key (often "" or a hash of a user assertion). Implementations are
// safe for concurrent use.
type Cache interface {
	// Load returns the blob and its version; an absent key gives a nil
	// blob and version 0.
	Load(ctx context.Context, key string) (Blob, error)
	// Save stores the blob if the stored version still equals
	// blob.Version and returns the new version; otherwise it returns
	// ErrCacheConflict and the caller reloads and merges.
	Save(ctx context.Context, key string, blob Blob) (uint64, error)
}

// ConditionalCache is a Cache that can skip sending a blob the caller
// already holds. The host's Cache service implements it, so a flow whose
// state did not change since its last call pays no transfer or decoding.
type ConditionalCache interface {
	Cache
	// LoadIfChanged returns the blob and true if its version is not
	// known; otherwise an empty blob and false.
	LoadIfChanged(ctx context.Context, key string, known uint64) (Blob, bool, error)
}

// Blob is a versioned cache value.
type Blob struct {
	Data    []byte
	Version uint64
	// ExpiresOn, if set, is when the entry is useless (an access token's
	// expiry); stores may drop it after that. Zero means no expiry.
	ExpiresOn time.Time
}

// Store is the host's token state: a Cache that can also list and delete
// entries, backed by a file, Redis or memory. Implementations are safe for
// concurrent use by goroutines and, for persistent stores, by processes.
type Store interface {
	Cache
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Keys returns the keys that start with prefix, sorted.
	Keys(ctx context.Context, prefix string) ([]string, error)
	// Close releases the store's resources.
	Close() error
}

// ErrCacheConflict is returned by Cache.Save when the blob changed since it
// was loaded.
var ErrCacheConflict = errors.New("cache: entry changed since it was loaded")

// NoUI is the UI of a call that nobody watches (no terminal, kubectl not
// interactive, an embedder without a prompt callback). Its Prompt fails
// with KindUnavailable, so a flow that prompts anyway ends up Unavailable;
// a careful flow asks CanPrompt first and says so before it contacts the
// identity provider.
var NoUI UI = noUI{}

type noUI struct{}

func (noUI) Prompt(context.Context, Prompt) error {
	return &Error{Kind: KindUnavailable, Err: errors.New("the flow needs to prompt the user, but nobody can see a prompt here"),
		Hint: "run it where someone can answer (a terminal, credhost login), or use a flow that needs nobody"}
}

func (noUI) Progress(context.Context, string) {}

// CanPrompt reports whether ui reaches a person: it is neither nil nor
// NoUI.
func CanPrompt(ui UI) bool { return ui != nil && ui != NoUI }

// UI is how a flow reaches the user, through the host.
type UI interface {
	// Prompt shows an instruction the user must act on (a device code).
	Prompt(ctx context.Context, p Prompt) error
	// Progress reports a step, for logs and status lines.
	Progress(ctx context.Context, message string)
}

// Prompt is an instruction for the user, such as a device code.
type Prompt struct {
	Message         string
	VerificationURI string
	UserCode        string
	// ExpiresOn is when the flow stops waiting for the person: a device
	// code's expiry, a browser sign-in's own timeout; zero if it does not
	// say. The host lets the call run until then (and the profile's
	// timeout again for the work after it), not only the profile's
	// timeout, which bounds the work nobody waits on.
	ExpiresOn time.Time
}

// ConfigError lists every problem with a flow's settings.
type ConfigError struct {
	Flow   string
	Fields []FieldError
}

// FieldError is one problem with one setting.
type FieldError struct {
	// Field is the option key ("client_secret") or a common setting
	// ("authority", "client_id").
	Field   string
	Message string
}

func (e *ConfigError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = fmt.Sprintf("%s: %s", f.Field, f.Message)
	}
	return fmt.Sprintf("%s: invalid configuration: %s", e.Flow, strings.Join(parts, "; "))
}

// Add records a problem with field.
func (e *ConfigError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// OrNil returns e if it holds any problem, else nil.
func (e *ConfigError) OrNil() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// SignInLocker is an optional interface of a Store that processes share
// (the cache file): SignInLock serializes, across processes, the
// acquisition of one token (key), so that parallel credential processes
// (kubectl starts many) make one IdP request and show one prompt, and the
// others take its result from the store. It is held across that
// acquisition (network I/O, a prompt), so it is a lock of its own per key,
// never the store's lock: reading and writing the cache never wait for
// it. It waits until the holder is done or ctx ends; a holder that dies
// releases it.
type SignInLocker interface {
	SignInLock(ctx context.Context, key string) (unlock func(), err error)
}
