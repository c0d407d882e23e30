// Package server is `credhost agent`: one long-lived host per user on a
// Unix socket (internal/agent says where, and speaks its protocol as a
// client), so that the plugin boundary (start, handshake, configure) is
// paid once per machine instead of once per command.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/agent"
)

// DefaultIdleTimeout is how long an agent without calls lives.
const DefaultIdleTimeout = 15 * time.Minute

// maxHosts bounds the hosts (configs × environments) an agent keeps; the
// least recently used idle one is closed to make room.
const maxHosts = 8

// Options tunes Serve.
type Options struct {
	// Dir is the runtime directory (agent.Dir); it is created 0700.
	Dir string
	// IdleTimeout ends the agent after this long without a call;
	// default DefaultIdleTimeout.
	IdleTimeout time.Duration
	Log         zerolog.Logger
	// Version is the binary's version, for hello and status.
	Version string
}

// Serve runs an agent until ctx ends, Stop is called or it has been idle
// for IdleTimeout. It stops every plugin it started before returning.
func Serve(ctx context.Context, opts Options) error {
	if !agent.Supported {
		return errors.New("agent: not supported on this OS (it needs SO_PEERCRED)")
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if err := agent.EnsureDir(opts.Dir); err != nil {
		return err
	}
	unlock, err := agent.LockDir(opts.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	sock := agent.Socket(opts.Dir)
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
	// calls is the context of every call: cancelled when the agent stops
	// waiting for calls in progress.
	calls, cancelCalls := context.WithCancel(context.Background())
	defer cancelCalls()
	s := &server{opts: opts, started: time.Now(), last: time.Now(), hosts: map[string]*openedHost{},
		stop: make(chan struct{}), sock: sock, calls: calls}
	done := make(chan error, 1)
	go func() { done <- s.accept(newOwnerListener(l, opts.Log)) }()
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
			cancelCalls()
			s.conns.Wait()
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
	l.Close()
	<-done
	// Calls in progress may finish (a prompt may take minutes: bounded).
	stopped := make(chan struct{})
	go func() { s.conns.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		cancelCalls()
		<-stopped
	}
	s.closeHosts()
	return nil
}

type server struct {
	opts    Options
	started time.Time
	sock    string
	calls   context.Context
	conns   sync.WaitGroup

	mu       sync.Mutex
	hosts    map[string]*openedHost
	refs     map[*openedHost]int
	inflight int
	last     time.Time
	requests int64
	stop     chan struct{}
	stopOnce sync.Once
}

// accept serves each connection in a goroutine of its own until l is
// closed (nil) or fails.
func (s *server) accept(l net.Listener) error {
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer c.Close()
			s.serve(c)
		}()
	}
}

// Bounds on a peer that does not keep up: the request must come at once,
// and a reply that cannot be written in this long ends the call.
const (
	requestTimeout = 5 * time.Second
	replyTimeout   = 10 * time.Second
)

// serve makes the one call of connection c.
func (s *server) serve(c net.Conn) {
	var req agent.Request
	_ = c.SetReadDeadline(time.Now().Add(requestTimeout))
	if err := json.NewDecoder(io.LimitReader(c, agent.MaxRequest)).Decode(&req); err != nil {
		s.opts.Log.Debug().Err(err).Msg("agent: unreadable request")
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	enc := json.NewEncoder(c)
	var sendMu sync.Mutex
	send := func(r agent.Reply) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		r.Protocol = agent.ProtocolVersion
		_ = c.SetWriteDeadline(time.Now().Add(replyTimeout))
		return enc.Encode(r)
	}
	if req.Protocol != agent.ProtocolVersion {
		_ = send(agent.Reply{Refused: fmt.Sprintf("the agent speaks protocol %d, the client %d", agent.ProtocolVersion, req.Protocol)})
		return
	}
	switch req.Op {
	case agent.OpHello:
		_ = send(agent.Reply{Hello: &agent.Hello{Version: s.opts.Version}})
	case agent.OpStatus:
		_ = send(agent.Reply{Status: s.status()})
	case agent.OpStop:
		_ = send(agent.Reply{})
		s.stopOnce.Do(func() { close(s.stop) })
	case agent.OpToken:
		if req.Token == nil {
			_ = send(agent.Reply{Refused: "a token call without its request"})
			return
		}
		// The caller hanging up (it was cancelled, or killed) cancels
		// the call: it sends nothing after its request.
		ctx, cancel := context.WithCancel(s.calls)
		defer cancel()
		go func() {
			_, _ = io.Copy(io.Discard, c)
			cancel()
		}()
		_ = send(s.token(ctx, req.Token, send))
	default:
		_ = send(agent.Reply{Refused: fmt.Sprintf("unknown operation %q", req.Op)})
	}
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

func (s *server) status() *agent.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &agent.Status{Version: s.opts.Version, PID: os.Getpid(), Started: s.started, IdleTimeout: s.opts.IdleTimeout,
		Hosts: len(s.hosts), Requests: s.requests, RSSBytes: RSS(), Socket: s.sock}
}

// errHandedOver ends a call whose prompt goes back to the caller's
// hand-over client.
var errHandedOver = errors.New("agent: the call needs a prompt; handed back to the caller")

// token makes a token call; prompts go out through send as they come, the
// answer is returned.
func (s *server) token(ctx context.Context, req *agent.TokenRequest, send func(agent.Reply) error) agent.Reply {
	s.begin()
	defer s.end()
	if d := envDiff(req.Env, os.Environ()); d != "" {
		return agent.Reply{Refused: "the caller's environment differs from the agent's in " + d}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var handedOver atomic.Bool
	tok, err := s.getToken(ctx, req, func(p core.Prompt) error {
		if req.HandOverPrompts {
			handedOver.Store(true)
			cancel()
			return errHandedOver
		}
		return send(agent.Reply{Prompt: agent.PromptOf(p)})
	})
	switch {
	case handedOver.Load():
		return agent.Reply{Refused: errHandedOver.Error()}
	case err != nil:
		var u usageError
		return agent.Reply{Error: agent.ErrorOf(err, errors.As(err, &u))}
	}
	return agent.Reply{Token: agent.TokenOf(tok)}
}

func (s *server) getToken(ctx context.Context, req *agent.TokenRequest, prompt func(core.Prompt) error) (core.Token, error) {
	getenv := envFunc(req.Env)
	file, err := loadConfig(req, getenv)
	if err != nil {
		return core.Token{}, err
	}
	oh, err := s.host(ctx, hostKey(req, file), func() (*openedHost, error) {
		var ui core.UI
		if req.CanPrompt {
			ui = streamUI{log: s.opts.Log}
		}
		return openHost(ctx, file, req, getenv, ui, s.opts.Log)
	})
	if err != nil {
		return core.Token{}, err
	}
	defer s.release(oh)
	cred, err := oh.Host.Credential(req.Profile)
	if err != nil {
		return core.Token{}, usageError{err}
	}
	return cred.GetToken(context.WithValue(ctx, promptKey{}, prompt), core.TokenRequest{Scopes: req.Scopes,
		TenantID: req.TenantID, Claims: req.Claims, ForceRefresh: req.ForceRefresh})
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
