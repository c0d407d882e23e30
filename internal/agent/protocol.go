package agent

import (
	"errors"
	"time"

	"github.com/credhost/credhost/core"
)

// The agent protocol: over the agent's Unix socket, one call per
// connection. The client writes one Request as a line of JSON; the agent
// answers with Reply lines (a token call: any number of prompts, then one
// token or error) and closes. A client that hangs up cancels its call.
//
// Why JSON lines and not gRPC: the fast front (cmd/credhost/fast) speaks
// it on every cache miss, and linking gRPC and protobuf would cost every
// cache hit their package initialisation (milliseconds, in a process whose
// whole run is about 10). The lineage is ssh-agent's and git's
// credential-cache's: a private socket and a small protocol of its own.
//
// Every message carries the protocol version. An agent answers a request
// of another version with Refused and its own version; a client treats a
// reply of another version, or bytes that are not this protocol (an older
// agent spoke gRPC), as "use no agent", and says which.

// ProtocolVersion is the agent protocol this build speaks (1 was gRPC).
const ProtocolVersion = 2

// Operations a Request names.
const (
	OpHello  = "hello"  // Reply.Hello: the agent's binary version
	OpToken  = "token"  // prompts, then Reply.Token or Reply.Error
	OpStatus = "status" // Reply.Status
	OpStop   = "stop"   // an empty Reply, then the agent stops
)

// MaxRequest bounds the request line the agent reads (the caller's
// environment travels in it).
const MaxRequest = 1 << 20

// maxReplies bounds what a client reads from one call.
const maxReplies = 4 << 20

// Request is the one line a client sends.
type Request struct {
	Protocol int           `json:"protocol"`
	Op       string        `json:"op"`
	Token    *TokenRequest `json:"token,omitempty"`
}

// TokenRequest is a token call: how the caller loads its config, its
// environment, whether it can show prompts, and the token request.
type TokenRequest struct {
	ConfigPath string   `json:"config_path,omitempty"`
	WorkDir    string   `json:"work_dir,omitempty"`
	NoProject  bool     `json:"no_project,omitempty"`
	Profile    string   `json:"profile,omitempty"`
	PluginDir  string   `json:"plugin_dir,omitempty"`
	Env        []string `json:"env,omitempty"`
	// CanPrompt says a person can see prompts: flows that prompt run.
	CanPrompt bool `json:"can_prompt,omitempty"`
	// HandOverPrompts: this client cannot show a prompt, but the one it
	// hands the call to can; the agent stops a call that would prompt and
	// answers Refused instead (the fast front sets it).
	HandOverPrompts bool `json:"hand_over_prompts,omitempty"`

	Scopes       []string `json:"scopes"`
	TenantID     string   `json:"tenant_id,omitempty"`
	Claims       string   `json:"claims,omitempty"`
	ForceRefresh bool     `json:"force_refresh,omitempty"`
}

// Reply is one line the agent sends; at most one of its fields is set
// besides Protocol (none: an OpStop done).
type Reply struct {
	Protocol int `json:"protocol"`
	// Refused: the agent will not answer this call (another protocol
	// version, another environment, a prompt to hand over); the caller
	// gets its token without the agent.
	Refused string  `json:"refused,omitempty"`
	Hello   *Hello  `json:"hello,omitempty"`
	Status  *Status `json:"status,omitempty"`
	Prompt  *Prompt `json:"prompt,omitempty"`
	Token   *Token  `json:"token,omitempty"`
	Error   *Error  `json:"error,omitempty"`
}

// Hello is the answer to OpHello.
type Hello struct {
	Version string `json:"version"`
}

// Status describes a running agent.
type Status struct {
	Version     string        `json:"version"`
	PID         int           `json:"pid"`
	Started     time.Time     `json:"started"`
	IdleTimeout time.Duration `json:"idle_timeout"`
	Hosts       int           `json:"hosts"`
	Requests    int64         `json:"requests"`
	RSSBytes    int64         `json:"rss_bytes"`
	Socket      string        `json:"socket"`
}

// Prompt is a flow's prompt, for the caller to show.
type Prompt struct {
	Message         string    `json:"message,omitempty"`
	VerificationURI string    `json:"verification_uri,omitempty"`
	UserCode        string    `json:"user_code,omitempty"`
	ExpiresOn       time.Time `json:"expires_on,omitzero"`
}

// Token is the token the call got.
type Token struct {
	AccessToken     string    `json:"access_token"`
	TokenType       string    `json:"token_type,omitempty"`
	ExpiresOn       time.Time `json:"expires_on"`
	RefreshOn       time.Time `json:"refresh_on,omitzero"`
	HomeAccountID   string    `json:"home_account_id,omitempty"`
	Username        string    `json:"username,omitempty"`
	AccountTenantID string    `json:"account_tenant_id,omitempty"`
	Flow            string    `json:"flow,omitempty"`
}

// Error is why the call got no token, as the in-process host would have
// said it.
type Error struct {
	Kind      string `json:"kind"` // failed, unavailable, interaction_required
	Message   string `json:"message"`
	Code      int    `json:"code,omitempty"`
	OAuthCode string `json:"oauth_code,omitempty"`
	Claims    string `json:"claims,omitempty"`
	// Usage marks a problem with the caller's flags or config.
	Usage bool `json:"usage,omitempty"`
}

// PromptOf and the other conversions map between core's types and the
// protocol's.
func PromptOf(p core.Prompt) *Prompt {
	return &Prompt{Message: p.Message, VerificationURI: p.VerificationURI, UserCode: p.UserCode, ExpiresOn: p.ExpiresOn}
}

func (p *Prompt) core() core.Prompt {
	return core.Prompt{Message: p.Message, VerificationURI: p.VerificationURI, UserCode: p.UserCode, ExpiresOn: p.ExpiresOn}
}

// TokenOf is t on the wire.
func TokenOf(t core.Token) *Token {
	return &Token{AccessToken: t.AccessToken.Reveal(), TokenType: t.TokenType, ExpiresOn: t.ExpiresOn, RefreshOn: t.RefreshOn,
		HomeAccountID: t.Account.HomeAccountID, Username: t.Account.Username, AccountTenantID: t.Account.TenantID, Flow: t.Flow}
}

func (t *Token) core() core.Token {
	return core.Token{AccessToken: core.NewSecret(t.AccessToken), TokenType: t.TokenType, ExpiresOn: t.ExpiresOn, RefreshOn: t.RefreshOn,
		Account: core.Account{HomeAccountID: t.HomeAccountID, Username: t.Username, TenantID: t.AccountTenantID}, Flow: t.Flow}
}

// ErrorOf is err on the wire; usage says the caller's flags or config
// are the problem.
func ErrorOf(err error, usage bool) *Error {
	e := &Error{Kind: kindName(core.KindOf(err)), Message: err.Error(), Usage: usage}
	var ce *core.Error
	if errors.As(err, &ce) {
		e.Code, e.OAuthCode, e.Claims = ce.Code, ce.OAuthCode, ce.Claims
	}
	return e
}

func kindName(k core.Kind) string {
	switch k {
	case core.KindUnavailable:
		return "unavailable"
	case core.KindInteractionRequired:
		return "interaction_required"
	}
	return "failed"
}

// RemoteError is an error the agent answered with: its text is the
// agent's, and it unwraps to a core.Error of the same kind (so exit codes
// and claims hints work as in-process).
type RemoteError struct {
	msg   string
	cause *core.Error
	// Usage marks a problem with the caller's flags or config.
	Usage bool
}

func (e *RemoteError) Error() string { return e.msg }
func (e *RemoteError) Unwrap() error { return e.cause }

func (e *Error) err() error {
	kind := core.KindFailed
	switch e.Kind {
	case "unavailable":
		kind = core.KindUnavailable
	case "interaction_required":
		kind = core.KindInteractionRequired
	}
	return &RemoteError{msg: e.Message, Usage: e.Usage, cause: &core.Error{Kind: kind, Code: e.Code,
		OAuthCode: e.OAuthCode, Claims: e.Claims, Err: errors.New(e.Message)}}
}
