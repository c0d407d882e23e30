package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// ErrFallback marks every error after which the caller should get the
// token in-process: no agent, one that could not start, one of another
// protocol version, one that died mid-call, or one that cannot answer for
// the caller's environment. Errors the agent answered with (the IdP
// refused, say) are not fallbacks.
var ErrFallback = errors.New("agent: not used")

func fallback(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFallback, fmt.Sprintf(format, args...))
}

// Client talks to the agent of one directory; every call is a
// connection of its own.
type Client struct {
	sock string
	// Version is the agent's binary version (its hello).
	Version string
}

// Dial checks that dir and its socket are this user's and private, then
// says hello to the agent there. Not finding an agent, or one of another
// protocol version, is an error wrapping ErrFallback that says so.
func Dial(ctx context.Context, dir string) (*Client, error) {
	if !Supported {
		return nil, fallback("not supported on this OS")
	}
	if err := checkPrivate(dir, true); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFallback, err)
	}
	c := &Client{sock: Socket(dir)}
	if err := checkPrivate(c.sock, false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFallback, err)
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := c.call(hctx, Request{Op: OpHello}, func(r *Reply) (bool, error) {
		if r.Hello == nil {
			return true, fallback("the agent did not answer hello")
		}
		c.Version = r.Hello.Version
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Status describes the agent.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st *Status
	err := c.call(ctx, Request{Op: OpStatus}, func(r *Reply) (bool, error) {
		if st = r.Status; st == nil {
			return true, errors.New("agent: the agent sent no status")
		}
		return true, nil
	})
	return st, err
}

// Stop asks the agent to stop its plugins and exit.
func (c *Client) Stop(ctx context.Context) error {
	return c.call(ctx, Request{Op: OpStop}, func(*Reply) (bool, error) { return true, nil })
}

// GetToken asks the agent for a token; prompts go to ui.
func (c *Client) GetToken(ctx context.Context, req *TokenRequest, ui core.UI) (core.Token, error) {
	var tok core.Token
	err := c.call(ctx, Request{Op: OpToken, Token: req}, func(r *Reply) (bool, error) {
		switch {
		case r.Prompt != nil:
			if ui == nil {
				return true, errors.New("agent: the flow prompted, but this call cannot show prompts")
			}
			if err := ui.Prompt(ctx, r.Prompt.core()); err != nil {
				return true, fmt.Errorf("showing the prompt: %w", err)
			}
			return false, nil
		case r.Token != nil:
			tok = r.Token.core()
			return true, nil
		case r.Error != nil:
			return true, r.Error.err()
		}
		return true, fallback("the agent sent a reply this client does not know")
	})
	return tok, err
}

// call makes one call: it sends req and hands each reply to handle until
// handle says the call is done. Failures of the agent, and replies of
// another protocol, wrap ErrFallback; ctx ending is a core.Error.
func (c *Client) call(ctx context.Context, req Request, handle func(*Reply) (done bool, err error)) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.sock)
	if err != nil {
		return fallback("no agent answers on %s: %v", c.sock, err)
	}
	defer conn.Close()
	// A cancelled call hangs up, which cancels it in the agent too.
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })()
	req.Protocol = ProtocolVersion
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return c.lost(ctx, err)
	}
	dec := json.NewDecoder(io.LimitReader(conn, maxReplies))
	for {
		var r Reply
		if err := dec.Decode(&r); err != nil {
			var syn *json.SyntaxError
			var typ *json.UnmarshalTypeError
			if ctx.Err() == nil && (errors.As(err, &syn) || errors.As(err, &typ)) {
				return fmt.Errorf("%w: %w: what answers on %s does not speak agent protocol %d (an agent of an older credhost?); it exits when idle, or end it with: pkill -f 'credhost-cli agent'",
					ErrFallback, errVersion, c.sock, ProtocolVersion)
			}
			return c.lost(ctx, err)
		}
		if r.Protocol != ProtocolVersion {
			return fmt.Errorf("%w: %w: the running agent speaks protocol %d and this client %d; stop it (credhost agent stop) to get one of this version",
				ErrFallback, errVersion, r.Protocol, ProtocolVersion)
		}
		if r.Refused != "" {
			return fallback("%s", r.Refused)
		}
		if done, err := handle(&r); done || err != nil {
			return err
		}
	}
}

// lost is the error of a call whose connection failed: ctx's end, else
// the agent went away.
func (c *Client) lost(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return &core.Error{Kind: core.KindFailed, Err: fmt.Errorf("agent call: %w", cerr)}
	}
	if errors.Is(err, io.EOF) {
		return fallback("the agent ended the call without an answer")
	}
	return fallback("the agent went away during the call (%v)", err)
}

// Call is one caller's request, as GetToken needs it.
type Call struct {
	// Getenv reads the caller's environment (the agent directory, the
	// switch); Env is that environment, sent to the agent.
	Getenv func(string) string
	Env    []string
	// ConfigPath, WorkDir, NoProject and PluginDir say how the caller
	// loads its config; Profile is the profile it selected.
	ConfigPath, WorkDir, Profile, PluginDir string
	NoProject                               bool
	// UI shows prompts; nil: nobody can answer one.
	UI core.UI
	// HandOverPrompts: with no UI, a call that would prompt is handed
	// back (ErrFallback) to be made again by a client that can show
	// the prompt, instead of running as if nobody could see it.
	HandOverPrompts bool
	// Exe is a binary whose `agent` verb runs an agent (credhost-cli);
	// empty: use a running agent, never start one.
	Exe string
	Log zerolog.Logger
}

// GetToken gets req's token from the user's agent, starting it if
// needed. An error wrapping ErrFallback means: get it in-process.
func GetToken(ctx context.Context, call *Call, req core.TokenRequest) (core.Token, error) {
	if Off(call.Getenv) {
		return core.Token{}, fallback("turned off")
	}
	dir, err := Dir(call.Getenv)
	if err != nil {
		return core.Token{}, fmt.Errorf("%w: %w", ErrFallback, err)
	}
	c, err := Dial(ctx, dir)
	if err != nil && call.Exe != "" && errors.Is(err, ErrFallback) && !errors.Is(err, errVersion) {
		call.Log.Debug().Err(err).Msg("starting an agent")
		c, err = start(ctx, call, dir)
	}
	if err != nil {
		return core.Token{}, err
	}
	// The agent runs in /: paths the caller gives relative to its working
	// directory are made absolute here.
	cfg := call.ConfigPath
	if cfg == "" {
		cfg = call.Getenv("CREDHOST_CONFIG")
	}
	return c.GetToken(ctx, &TokenRequest{ConfigPath: absIn(call.WorkDir, cfg), WorkDir: call.WorkDir, NoProject: call.NoProject,
		Profile: call.Profile, PluginDir: absIn(call.WorkDir, call.PluginDir), Env: call.Env,
		CanPrompt: call.UI != nil || call.HandOverPrompts, HandOverPrompts: call.UI == nil && call.HandOverPrompts,
		Scopes: req.Scopes, TenantID: req.TenantID, Claims: req.Claims, ForceRefresh: req.ForceRefresh}, call.UI)
}

// absIn is path, relative to dir if it is not absolute ("" stays "").
func absIn(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

var errVersion = errors.New("another protocol version")

// start runs `<exe> agent` detached (its own session, output to the log
// file in dir) and waits until it answers.
func start(ctx context.Context, call *Call, dir string) (*Client, error) {
	if err := EnsureDir(dir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFallback, err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: agent log: %w", ErrFallback, err)
	}
	defer logf.Close()
	cmd := exec.Command(call.Exe, "agent")
	cmd.Env = call.Env
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: starting the agent: %w", ErrFallback, err)
	}
	// Reap it when it exits (an embedder lives on after the agent). If it
	// exits at once, another agent may have won the start lock: dial on.
	go func() { _ = cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := Dial(ctx, dir)
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrFallback, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fallback("the agent did not start within 3s (see %s): %v", filepath.Join(dir, "agent.log"), err)
		}
	}
}
