package plugin

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	pluginv1 "github.com/credhost/credhost/core/proto/credhost/plugin/v1"
	"github.com/credhost/credhost/internal/httpclient"
)

// flowServer serves a core.Flow inside the plugin process.
type flowServer struct {
	pluginv1.UnimplementedFlowServiceServer
	impl   core.Flow
	broker *goplugin.GRPCBroker
	log    zerolog.Logger
	// protocol is the negotiated version; 0 in-process (see flowPlugin).
	protocol int

	mu    sync.Mutex
	cache core.Cache // set by Configure when the host offers one; else nil
}

func newFlowServer(impl core.Flow, broker *goplugin.GRPCBroker, log zerolog.Logger, protocol int) *flowServer {
	return &flowServer{impl: impl, broker: broker, log: log, protocol: protocol}
}

// streams reports whether the cache partition travels in the GetToken
// stream (protocol 3, and in-process test connections).
func (s *flowServer) streams() bool { return s.protocol == 0 || s.protocol >= 3 }

// keepsDiscovery reports whether the host keeps discovery answers
// (protocol 3). In-process test connections leave the process-wide
// httpclient.SharedDiscovery off: the test process hosts other flows.
func (s *flowServer) keepsDiscovery() bool { return s.protocol >= 3 }

func (s *flowServer) Describe(context.Context, *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	return descriptionToProto(s.impl.Describe()), nil
}

func (s *flowServer) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (resp *pluginv1.ConfigureResponse, err error) {
	defer s.recoverInto(func(e *pluginv1.Error) {
		resp, err = &pluginv1.ConfigureResponse{Errors: []*pluginv1.FieldError{{Message: e.GetMessage()}}}, nil
	})
	if id := req.GetCacheBrokerId(); id != 0 {
		// Dial now, not on first use: the host's broker waits for this
		// connection, and a never-dialled id would linger until shutdown.
		c := newCacheClient(s.broker, id)
		if _, err := c.dial(); err != nil {
			return &pluginv1.ConfigureResponse{Errors: []*pluginv1.FieldError{{Message: err.Error()}}}, nil
		}
		s.mu.Lock()
		s.cache = c
		s.mu.Unlock()
	}
	if s.keepsDiscovery() {
		httpclient.SharedDiscovery.Seed(discoveryFromProto(req.GetDiscovery()))
	}
	cerr := s.impl.Configure(s.log.WithContext(ctx), configFromProto(req))
	if cerr == nil {
		return &pluginv1.ConfigureResponse{}, nil
	}
	return &pluginv1.ConfigureResponse{Errors: fieldErrorsToProto(cerr)}, nil
}

func (s *flowServer) GetToken(req *pluginv1.GetTokenRequest, stream pluginv1.FlowService_GetTokenServer) (err error) {
	ui := &streamUI{stream: stream}
	defer s.recoverInto(func(e *pluginv1.Error) {
		err = ui.send(&pluginv1.GetTokenEvent{Event: &pluginv1.GetTokenEvent_Error{Error: e}})
	})

	s.mu.Lock()
	cache := s.cache
	s.mu.Unlock()
	ctx := s.log.WithContext(stream.Context())
	services := core.Services{Cache: cache, UI: ui}
	var sc *streamCache
	if cache != nil && s.streams() {
		sc = newStreamCache(req.GetCache(), cache)
		services.Cache = sc
	}
	if req.GetNoUi() {
		// Nobody can see a prompt: the flow can learn it (CanPrompt)
		// before it asks the IdP for anything (a device code nobody
		// will enter).
		services.UI = core.NoUI
	}
	tok, ferr := s.impl.GetToken(ctx, requestFromProto(req), services)
	final := &pluginv1.GetTokenEvent{Event: &pluginv1.GetTokenEvent_Token{Token: tokenToProto(tok)}}
	if ferr != nil {
		final = &pluginv1.GetTokenEvent{Event: &pluginv1.GetTokenEvent_Error{Error: errorToProto(ferr)}}
	}
	if sc != nil {
		final.CacheUpdate = sc.update()
	}
	if s.keepsDiscovery() {
		final.Discovered = discoveryToProto(httpclient.SharedDiscovery.Drain())
	}
	return ui.send(final)
}

// Check runs the flow's own check, if it has one. Prompts are not
// allowed during a check: the UI given to the flow refuses them.
func (s *flowServer) Check(ctx context.Context, req *pluginv1.CheckRequest) (resp *pluginv1.CheckResponse, err error) {
	defer s.recoverInto(func(e *pluginv1.Error) { resp, err = &pluginv1.CheckResponse{Problem: e, Implemented: true}, nil })
	c, ok := s.impl.(core.Checker)
	if !ok {
		return &pluginv1.CheckResponse{}, nil
	}
	s.mu.Lock()
	services := core.Services{Cache: s.cache, UI: core.NoUI}
	s.mu.Unlock()
	if !req.GetNoUi() {
		services.UI = checkUI{}
	}
	resp = &pluginv1.CheckResponse{Implemented: true}
	if problem := c.Check(s.log.WithContext(ctx), services); problem != nil {
		resp.Problem = errorToProto(problem)
	}
	return resp, nil
}

// checkUI is the UI of a check: someone could see a prompt, but a check
// must not show one.
type checkUI struct{}

func (checkUI) Prompt(context.Context, core.Prompt) error {
	return errors.New("a check must not prompt (a bug in the plugin)")
}
func (checkUI) Progress(context.Context, string) {}

// recoverInto turns a panic in the flow into an error the host can show.
// The panic value is not logged or returned: it might hold a secret. The
// stack (function names and addresses) is logged for the plugin's author.
func (s *flowServer) recoverInto(report func(*pluginv1.Error)) {
	if r := recover(); r != nil {
		s.log.Error().Str("stack", string(debug.Stack())).Msg("flow panicked")
		report(&pluginv1.Error{Kind: pluginv1.ErrorKind_ERROR_KIND_FAILED, Message: "plugin panicked (its stack is in the plugin log); this is a bug in the plugin"})
	}
}

// streamUI sends prompts and progress as stream events. gRPC streams allow
// one sender at a time, hence the mutex.
type streamUI struct {
	mu     sync.Mutex
	stream pluginv1.FlowService_GetTokenServer
}

func (u *streamUI) send(ev *pluginv1.GetTokenEvent) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stream.Send(ev)
}

func (u *streamUI) Prompt(_ context.Context, p core.Prompt) error {
	return u.send(&pluginv1.GetTokenEvent{Event: &pluginv1.GetTokenEvent_Prompt{Prompt: promptToProto(p)}})
}

func (u *streamUI) Progress(_ context.Context, msg string) {
	_ = u.send(&pluginv1.GetTokenEvent{Event: &pluginv1.GetTokenEvent_Progress{Progress: &pluginv1.Progress{Message: msg}}})
}

var (
	_ pluginv1.FlowServiceServer = (*flowServer)(nil)
	_ core.UI                    = (*streamUI)(nil)
)
