// Package agent is `credhost agent`: one long-lived host per user on a
// Unix socket, so that the plugin boundary (start, handshake, configure)
// is paid once per machine instead of once per command, and its client,
// which callers use through GetToken and fall back from to an in-process
// host whenever the agent cannot answer exactly as that host would.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/credhost/credhost/core"
	agentv1 "github.com/credhost/credhost/core/proto/credhost/agent/v1"
)

// ProtocolVersion is the agent protocol this build speaks. Client and
// agent must speak the same one; otherwise the client goes in-process.
const ProtocolVersion = 1

// DefaultIdleTimeout is how long an agent without calls lives.
const DefaultIdleTimeout = 15 * time.Minute

// maxHosts bounds the hosts (configs × environments) an agent keeps; the
// least recently used idle one is closed to make room.
const maxHosts = 8

// ServerOptions tunes Serve.
type ServerOptions struct {
	// Dir is the runtime directory (Dir); it is created 0700.
	Dir string
	// IdleTimeout ends the agent after this long without a call;
	// default DefaultIdleTimeout.
	IdleTimeout time.Duration
	Log         zerolog.Logger
	// Version is the binary's version, for Status.
	Version string
}

// Serve runs an agent until ctx ends, Stop is called or it has been idle
// for IdleTimeout. It stops every plugin it started before returning.
func Serve(ctx context.Context, opts ServerOptions) error {
	if !Supported {
		return errors.New("agent: not supported on this OS (it needs SO_PEERCRED)")
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if err := ensureDir(opts.Dir); err != nil {
		return err
	}
	unlock, err := lockDir(opts.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	sock := Socket(opts.Dir)
	// The lock is ours, so a socket left here is a dead agent's.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("agent: removing a stale socket: %w", err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer os.Remove(sock)
	if err := os.Chmod(sock, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("agent: %w", err)
	}
	s := &server{opts: opts, started: time.Now(), last: time.Now(), hosts: map[string]*openedHost{},
		stop: make(chan struct{}), sock: sock}
	g := grpc.NewServer()
	agentv1.RegisterAgentServiceServer(g, s)
	done := make(chan error, 1)
	go func() { done <- g.Serve(newOwnerListener(l, opts.Log)) }()
	opts.Log.Info().Str("socket", sock).Dur("idle_timeout", opts.IdleTimeout).Int("pid", os.Getpid()).Msg("agent listening")

	tick := time.NewTicker(min(opts.IdleTimeout/4, time.Second))
	defer tick.Stop()
	var why string
loop:
	for {
		select {
		case <-ctx.Done():
			why = "signal"
			break loop
		case <-s.stop:
			why = "stop requested"
			break loop
		case err := <-done:
			s.closeHosts()
			return fmt.Errorf("agent: serving: %w", err)
		case <-tick.C:
			if s.idleFor() >= opts.IdleTimeout {
				why = "idle timeout"
				break loop
			}
		}
	}
	opts.Log.Info().Str("why", why).Msg("agent stopping")
	// Calls in progress may finish (a prompt may take minutes: bounded).
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		g.Stop()
	}
	s.closeHosts()
	return nil
}

type server struct {
	agentv1.UnimplementedAgentServiceServer
	opts    ServerOptions
	started time.Time
	sock    string

	mu       sync.Mutex
	hosts    map[string]*openedHost
	refs     map[*openedHost]int
	inflight int
	last     time.Time
	requests int64
	stop     chan struct{}
	stopOnce sync.Once
}

func (s *server) idleFor() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight > 0 {
		return 0
	}
	return time.Since(s.last)
}

func (s *server) begin() {
	s.mu.Lock()
	s.inflight++
	s.requests++
	s.mu.Unlock()
}

func (s *server) end() {
	s.mu.Lock()
	s.inflight--
	s.last = time.Now()
	s.mu.Unlock()
}

func (s *server) closeHosts() {
	s.mu.Lock()
	hosts := s.hosts
	s.hosts = map[string]*openedHost{}
	s.mu.Unlock()
	for _, h := range hosts {
		h.close()
	}
}

func (s *server) Hello(context.Context, *agentv1.HelloRequest) (*agentv1.HelloResponse, error) {
	return &agentv1.HelloResponse{ProtocolVersion: ProtocolVersion, Version: s.opts.Version}, nil
}

func (s *server) Status(context.Context, *agentv1.StatusRequest) (*agentv1.StatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &agentv1.StatusResponse{ProtocolVersion: ProtocolVersion, Version: s.opts.Version, Pid: int32(os.Getpid()),
		Started: timestamppb.New(s.started), IdleTimeout: durationpb.New(s.opts.IdleTimeout),
		Hosts: int32(len(s.hosts)), Requests: s.requests, RssBytes: RSS(), Socket: s.sock}, nil
}

func (s *server) Stop(context.Context, *agentv1.StopRequest) (*agentv1.StopResponse, error) {
	s.stopOnce.Do(func() { close(s.stop) })
	return &agentv1.StopResponse{}, nil
}

func (s *server) GetToken(req *agentv1.GetTokenRequest, stream agentv1.AgentService_GetTokenServer) error {
	s.begin()
	defer s.end()
	if v := req.GetProtocolVersion(); v != ProtocolVersion {
		return status.Errorf(codes.FailedPrecondition, "agent speaks protocol %d, the client %d", ProtocolVersion, v)
	}
	if d := envDiff(req.GetEnv(), os.Environ()); d != "" {
		return status.Errorf(codes.FailedPrecondition, "the caller's environment differs from the agent's in %s", d)
	}
	var sendMu sync.Mutex
	send := func(ev *agentv1.GetTokenEvent) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.Send(ev)
	}
	tok, err := s.getToken(stream.Context(), req, func(p core.Prompt) error {
		return send(&agentv1.GetTokenEvent{Event: &agentv1.GetTokenEvent_Prompt{Prompt: promptToProto(p)}})
	})
	if err != nil {
		return send(&agentv1.GetTokenEvent{Event: &agentv1.GetTokenEvent_Error{Error: errorToProto(err)}})
	}
	return send(&agentv1.GetTokenEvent{Event: &agentv1.GetTokenEvent_Token{Token: tokenToProto(tok)}})
}

func (s *server) getToken(ctx context.Context, req *agentv1.GetTokenRequest, prompt func(core.Prompt) error) (core.Token, error) {
	getenv := envFunc(req.GetEnv())
	file, err := loadConfig(req, getenv)
	if err != nil {
		return core.Token{}, err
	}
	oh, err := s.host(ctx, hostKey(req, file), func() (*openedHost, error) {
		var ui core.UI
		if req.GetCanPrompt() {
			ui = streamUI{log: s.opts.Log}
		}
		return openHost(ctx, file, req, getenv, ui, s.opts.Log)
	})
	if err != nil {
		return core.Token{}, err
	}
	defer s.release(oh)
	cred, err := oh.Host.Credential(req.GetProfile())
	if err != nil {
		return core.Token{}, usageError{err}
	}
	return cred.GetToken(context.WithValue(ctx, promptKey{}, prompt), core.TokenRequest{Scopes: req.GetScopes(),
		TenantID: req.GetTenantId(), Claims: req.GetClaims(), ForceRefresh: req.GetForceRefresh()})
}

// host returns the open host for key, opening it if needed, and holds it
// until release.
func (s *server) host(ctx context.Context, key string, open func() (*openedHost, error)) (*openedHost, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs == nil {
		s.refs = map[*openedHost]int{}
	}
	oh := s.hosts[key]
	if oh == nil {
		var err error
		if oh, err = open(); err != nil {
			return nil, err
		}
		oh.key = key
		s.hosts[key] = oh
		s.evict()
	}
	oh.used = time.Now()
	s.refs[oh]++
	return oh, nil
}

// evict closes the least recently used idle hosts beyond maxHosts.
func (s *server) evict() {
	for len(s.hosts) > maxHosts {
		var idle []*openedHost
		for _, h := range s.hosts {
			if s.refs[h] == 0 {
				idle = append(idle, h)
			}
		}
		if len(idle) == 0 {
			return
		}
		oldest := slices.MinFunc(idle, func(a, b *openedHost) int { return a.used.Compare(b.used) })
		delete(s.hosts, oldest.key)
		s.opts.Log.Info().Msg("closing the least recently used host")
		go oldest.close()
	}
}

func (s *server) release(oh *openedHost) {
	s.mu.Lock()
	s.refs[oh]--
	if s.refs[oh] == 0 {
		delete(s.refs, oh)
	}
	s.mu.Unlock()
}

// promptKey carries, in a call's context, where its prompts go: the
// stream of the client that asked.
type promptKey struct{}

// streamUI sends a flow's prompts to the client whose call runs.
type streamUI struct{ log zerolog.Logger }

func (u streamUI) Prompt(ctx context.Context, p core.Prompt) error {
	send, ok := ctx.Value(promptKey{}).(func(core.Prompt) error)
	if !ok {
		return errors.New("agent: no client to show the prompt to")
	}
	return send(p)
}

func (u streamUI) Progress(_ context.Context, msg string) { u.log.Debug().Msg(msg) }

// RSS is this process's resident set size in bytes (Linux), 0 if unknown.
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
