package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/credhost/credhost/core"
	agentv1 "github.com/credhost/credhost/core/proto/credhost/agent/v1"
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

// Client is a connection to a running agent.
type Client struct {
	conn *grpc.ClientConn
	c    agentv1.AgentServiceClient
	// Version is the agent's binary version (Hello).
	Version string
}

// Dial connects to the agent of dir and says hello. It checks the
// directory and the socket are this user's and private first. An agent of
// another protocol version is an error wrapping ErrFallback that says so.
func Dial(ctx context.Context, dir string) (*Client, error) {
	if !Supported {
		return nil, fallback("not supported on this OS")
	}
	if err := checkPrivate(dir, true); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFallback, err)
	}
	sock := Socket(dir)
	if err := checkPrivate(sock, false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFallback, err)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFallback, err)
	}
	c := &Client{conn: conn, c: agentv1.NewAgentServiceClient(conn)}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	h, err := c.c.Hello(hctx, &agentv1.HelloRequest{ProtocolVersion: ProtocolVersion}, grpc.WaitForReady(false))
	if err != nil {
		conn.Close()
		return nil, fallback("no agent answers on %s: %v", sock, status.Convert(err).Message())
	}
	if h.GetProtocolVersion() != ProtocolVersion {
		conn.Close()
		return nil, fmt.Errorf("%w: %w: the running agent speaks protocol %d and this client %d; stop it (credhost agent stop) to get one of this version",
			ErrFallback, errVersion, h.GetProtocolVersion(), ProtocolVersion)
	}
	c.Version = h.GetVersion()
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Status describes the agent.
func (c *Client) Status(ctx context.Context) (*agentv1.StatusResponse, error) {
	return c.c.Status(ctx, &agentv1.StatusRequest{})
}

// Stop asks the agent to stop its plugins and exit.
func (c *Client) Stop(ctx context.Context) error {
	_, err := c.c.Stop(ctx, &agentv1.StopRequest{})
	return err
}

// GetToken asks the agent for a token; prompts go to ui.
func (c *Client) GetToken(ctx context.Context, req *agentv1.GetTokenRequest, ui core.UI) (core.Token, error) {
	req.ProtocolVersion = ProtocolVersion
	stream, err := c.c.GetToken(ctx, req)
	if err != nil {
		return core.Token{}, c.streamError(ctx, err)
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return core.Token{}, fallback("the agent ended the call without an answer")
		}
		if err != nil {
			return core.Token{}, c.streamError(ctx, err)
		}
		switch e := ev.GetEvent().(type) {
		case *agentv1.GetTokenEvent_Prompt:
			if ui == nil {
				return core.Token{}, errors.New("agent: the flow prompted, but this call cannot show prompts")
			}
			if err := ui.Prompt(ctx, promptFromProto(e.Prompt)); err != nil {
				return core.Token{}, fmt.Errorf("showing the prompt: %w", err)
			}
		case *agentv1.GetTokenEvent_Token:
			return tokenFromProto(e.Token), nil
		case *agentv1.GetTokenEvent_Error:
			return core.Token{}, errorFromProto(e.Error)
		default:
			return core.Token{}, fallback("the agent sent an event this client does not know")
		}
	}
}

func (c *Client) streamError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &core.Error{Kind: core.KindFailed, Err: fmt.Errorf("agent call: %w", ctx.Err())}
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.FailedPrecondition:
		return fallback("%s", st.Message())
	case codes.Unavailable, codes.Canceled, codes.Unknown, codes.Internal:
		return fallback("the agent went away during the call (%s)", st.Message())
	}
	return fallback("agent: %s", st.Message())
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
	defer c.Close()
	// The agent runs in /: paths the caller gives relative to its working
	// directory are made absolute here.
	cfg := call.ConfigPath
	if cfg == "" {
		cfg = call.Getenv("CREDHOST_CONFIG")
	}
	return c.GetToken(ctx, &agentv1.GetTokenRequest{ConfigPath: absIn(call.WorkDir, cfg), WorkDir: call.WorkDir, NoProject: call.NoProject,
		Profile: call.Profile, PluginDir: absIn(call.WorkDir, call.PluginDir), Env: call.Env, CanPrompt: call.UI != nil,
		Scopes: req.Scopes, TenantId: req.TenantID, Claims: req.Claims, ForceRefresh: req.ForceRefresh}, call.UI)
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
	if err := ensureDir(dir); err != nil {
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
