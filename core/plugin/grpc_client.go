package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/credhost/credhost/core"
	pluginv1 "github.com/credhost/credhost/core/proto/credhost/plugin/v1"
)

// Client talks to one running plugin over gRPC. It is safe for concurrent
// use. Errors are *core.Error: domain errors come from the plugin's error
// event, transport failures (a crash, a lost stream) name the flow.
type Client struct {
	broker *goplugin.GRPCBroker
	flow   pluginv1.FlowServiceClient
	name   string // flow id, for error messages; set by the host
	// protocol is the negotiated protocol version; 0 for in-process
	// test connections, which speak the newest.
	protocol int
	log      zerolog.Logger

	// Protocol 3 (stream_cache.go, discovery.go): the flow's cache
	// partition, the versions of its entries this plugin process holds,
	// and where the host keeps the flow's discovery answers.
	cache     core.Cache
	discovery core.Cache
	mu        sync.Mutex
	held      map[string]uint64
}

// speaks reports whether the plugin speaks protocol v.
func (c *Client) speaks(v int) bool { return c.protocol == 0 || c.protocol >= v }

// KeepDiscovery gives the client where the host keeps the flow's
// discovery answers (key "" of store); call it before Configure. With a
// protocol-3 plugin, Configure hands them over and each call's newly
// fetched ones are saved there.
func (c *Client) KeepDiscovery(store core.Cache) { c.discovery = store }

// Describe asks the plugin what it is.
func (c *Client) Describe(ctx context.Context) (core.Description, error) {
	r, err := c.flow.Describe(ctx, &pluginv1.DescribeRequest{})
	if err != nil {
		return core.Description{}, transportError(c.name, "describe", err)
	}
	return descriptionFromProto(r), nil
}

// Configure sends the profile's settings and serves cache (if not nil) to
// the plugin through the broker. Field problems are a *core.ConfigError.
func (c *Client) Configure(ctx context.Context, cfg core.FlowConfig, cache core.Cache) error {
	var id uint32
	if cache != nil {
		id = serveCache(c.broker, cache)
		c.cache = cache
		c.held = map[string]uint64{}
	}
	preq := configToProto(cfg, id)
	if c.discovery != nil && c.speaks(3) {
		preq.Discovery = discoveryToProto(loadDiscovery(ctx, c.discovery, c.log))
	}
	r, err := c.flow.Configure(ctx, preq)
	if err != nil {
		return transportError(c.name, "configure", err)
	}
	return fieldErrorsFromProto(c.name, r.GetErrors())
}

// GetToken runs the flow, passing prompts and progress to ui (which may be
// nil), and returns its token or its error.
func (c *Client) GetToken(ctx context.Context, req core.TokenRequest, ui core.UI) (core.Token, error) {
	// Returning early (a prompt nobody can see) must stop the plugin too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	preq := requestToProto(req, c.protocol)
	preq.NoUi = ui == nil
	if c.cache != nil && c.speaks(3) {
		preq.Cache = c.streamEntries(ctx)
	}
	stream, err := c.flow.GetToken(ctx, preq)
	if err != nil {
		return core.Token{}, c.streamError(ctx, err)
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return core.Token{}, core.Failed(c.name, "plugin ended the stream without a token or an error (a bug in the plugin)")
		}
		if err != nil {
			return core.Token{}, c.streamError(ctx, err)
		}
		switch e := ev.GetEvent().(type) {
		case *pluginv1.GetTokenEvent_Prompt:
			if ui == nil {
				return core.Token{}, core.Unavailable(c.name, "the flow needs to prompt the user, but nobody can see a prompt here")
			}
			if err := ui.Prompt(ctx, promptFromProto(e.Prompt)); err != nil {
				return core.Token{}, &core.Error{Kind: core.KindUnavailable, Flow: c.name, Err: fmt.Errorf("showing the prompt: %w", err)}
			}
		case *pluginv1.GetTokenEvent_Progress:
			if ui != nil {
				ui.Progress(ctx, e.Progress.GetMessage())
			}
		case *pluginv1.GetTokenEvent_Token:
			c.final(ctx, ev)
			return tokenFromProto(c.name, e.Token)
		case *pluginv1.GetTokenEvent_Error:
			c.final(ctx, ev)
			if ctx.Err() != nil {
				// The flow gave up because our context ended: say so
				// in a way errors.Is(err, context.DeadlineExceeded) sees.
				return core.Token{}, c.streamError(ctx, errors.New(e.Error.GetMessage()))
			}
			return core.Token{}, errorFromProto(c.name, e.Error)
		default:
			return core.Token{}, core.Failed(c.name, "plugin sent an event this host does not know (is the plugin newer than the host?)")
		}
	}
}

// final stores what a protocol-3 plugin's final event carries: its
// cache update and the discovery answers it fetched.
func (c *Client) final(ctx context.Context, ev *pluginv1.GetTokenEvent) {
	if u := ev.GetCacheUpdate(); len(u) > 0 && c.cache != nil {
		c.applyUpdate(ctx, u)
	}
	if d := ev.GetDiscovered(); len(d) > 0 && c.discovery != nil {
		keepDiscovered(ctx, c.discovery, discoveryFromProto(d), c.log)
	}
}

// Check asks the flow whether it can run here (see core.Checker);
// noUI says nobody could see a prompt. known is false when the plugin has
// no check of its own (or predates Check); problem is nil when it can run.
func (c *Client) Check(ctx context.Context, noUI bool) (known bool, problem error, err error) {
	if c.protocol != 0 && c.protocol < 2 {
		return false, nil, nil // Check came with protocol 2
	}
	r, err := c.flow.Check(ctx, &pluginv1.CheckRequest{NoUi: noUI})
	if status.Code(err) == codes.Unimplemented {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, c.streamError(ctx, err)
	}
	if r.GetProblem() != nil {
		return true, errorFromProto(c.name, r.GetProblem()), nil
	}
	return r.GetImplemented(), nil, nil
}

// streamError prefers the caller's context error: a cancelled call is
// reported as such, not as a plugin failure.
func (c *Client) streamError(ctx context.Context, err error) error {
	ctxErr := ctx.Err()
	if ctxErr == nil {
		// gRPC's own deadline timer may fire a moment before ctx's.
		switch status.Code(err) {
		case codes.DeadlineExceeded:
			ctxErr = context.DeadlineExceeded
		case codes.Canceled:
			ctxErr = context.Canceled
		}
	}
	if ctxErr != nil {
		return &core.Error{Kind: core.KindFailed, Flow: c.name, Err: ctxErr,
			Hint: "the call was cancelled or ran out of time; raise the profile's timeout if the flow needs longer"}
	}
	return transportError(c.name, "call", err)
}
