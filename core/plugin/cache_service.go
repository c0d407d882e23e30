package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/credhost/credhost/core"
	pluginv1 "github.com/credhost/credhost/core/proto/credhost/plugin/v1"
	"github.com/credhost/credhost/internal/boundedio"
)

// maxBlob bounds what a plugin may store in one cache entry, so a buggy or
// hostile plugin cannot exhaust the host's memory or disk.
const maxBlob = 16 << 20

// maxMessage bounds every gRPC message between host and plugin, on both
// sides and in both directions (grpcLimits): a cache entry of maxBlob
// with its key and version fits. gRPC's own default (4 MiB received)
// would refuse a flow cache of 5 MiB with a cryptic ResourceExhausted.
const maxMessage = maxBlob + 1<<20

// serverLimits are the gRPC server options of both sides.
func serverLimits() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage)}
}

// dialLimits are the gRPC dial options of both sides.
func dialLimits() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage))}
}

// newServer is a gRPC server with the limits; go-plugin calls it with
// its own options (TLS) for the plugin's server and for broker streams.
func newServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, serverLimits()...)...)
}

// tooBig is the error for a cache entry over maxBlob, on either side.
func tooBig(key string, n int) error {
	return fmt.Errorf("flow cache entry %q is %s, over the %s limit of the host's cache service: the flow keeps too much state in one entry",
		key, boundedio.FormatSize(int64(n)), boundedio.FormatSize(maxBlob))
}

// cacheCallError makes gRPC's message size refusal readable.
func cacheCallError(op string, err error) error {
	if status.Code(err) == codes.ResourceExhausted {
		return fmt.Errorf("host cache %s: a message over the %s limit of the host's cache service: %w", op, boundedio.FormatSize(maxMessage), err)
	}
	return fmt.Errorf("host cache %s: %w", op, err)
}

// cacheServer is the host side of the Cache service: it serves one
// partition prefix of the host's store to one plugin process.
type cacheServer struct {
	pluginv1.UnimplementedCacheServiceServer
	store core.Cache
}

func (s *cacheServer) Load(ctx context.Context, req *pluginv1.LoadRequest) (*pluginv1.LoadResponse, error) {
	b, err := s.store.Load(ctx, req.GetKey())
	if err != nil {
		return nil, err
	}
	if known := req.GetKnownVersion(); known != 0 && known == b.Version {
		return &pluginv1.LoadResponse{Version: b.Version, NotModified: true}, nil
	}
	return &pluginv1.LoadResponse{Data: b.Data, Version: b.Version}, nil
}

func (s *cacheServer) Save(ctx context.Context, req *pluginv1.SaveRequest) (*pluginv1.SaveResponse, error) {
	if len(req.GetData()) > maxBlob {
		return nil, status.Error(codes.InvalidArgument, tooBig(req.GetKey(), len(req.GetData())).Error())
	}
	v, err := s.store.Save(ctx, req.GetKey(), core.Blob{Data: req.GetData(), Version: req.GetVersion()})
	if errors.Is(err, core.ErrCacheConflict) {
		return &pluginv1.SaveResponse{Conflict: true}, nil
	}
	if err != nil {
		return nil, err
	}
	return &pluginv1.SaveResponse{Version: v}, nil
}

// serveCache starts the Cache service on the broker and returns its id.
func serveCache(broker *goplugin.GRPCBroker, store core.Cache) uint32 {
	id := broker.NextId()
	go broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := newServer(opts)
		pluginv1.RegisterCacheServiceServer(s, &cacheServer{store: store})
		return s
	})
	return id
}

// cacheClient is the plugin side: a core.Cache that dials the host once,
// on first use.
type cacheClient struct {
	broker *goplugin.GRPCBroker
	id     uint32

	once   sync.Once
	client pluginv1.CacheServiceClient
	err    error
}

func newCacheClient(broker *goplugin.GRPCBroker, id uint32) *cacheClient {
	return &cacheClient{broker: broker, id: id}
}

func (c *cacheClient) dial() (pluginv1.CacheServiceClient, error) {
	c.once.Do(func() {
		conn, err := c.broker.DialWithOptions(c.id, dialLimits()...)
		if err != nil {
			c.err = fmt.Errorf("dial host cache service: %w", err)
			return
		}
		c.client = pluginv1.NewCacheServiceClient(conn)
	})
	return c.client, c.err
}

func (c *cacheClient) Load(ctx context.Context, key string) (core.Blob, error) {
	cl, err := c.dial()
	if err != nil {
		return core.Blob{}, err
	}
	r, err := cl.Load(ctx, &pluginv1.LoadRequest{Key: key})
	if err != nil {
		return core.Blob{}, cacheCallError("load", err)
	}
	return core.Blob{Data: r.GetData(), Version: r.GetVersion()}, nil
}

// LoadIfChanged implements core.ConditionalCache.
func (c *cacheClient) LoadIfChanged(ctx context.Context, key string, known uint64) (core.Blob, bool, error) {
	cl, err := c.dial()
	if err != nil {
		return core.Blob{}, false, err
	}
	r, err := cl.Load(ctx, &pluginv1.LoadRequest{Key: key, KnownVersion: known})
	if err != nil {
		return core.Blob{}, false, cacheCallError("load", err)
	}
	if r.GetNotModified() {
		return core.Blob{}, false, nil
	}
	return core.Blob{Data: r.GetData(), Version: r.GetVersion()}, true, nil
}

func (c *cacheClient) Save(ctx context.Context, key string, b core.Blob) (uint64, error) {
	if len(b.Data) > maxBlob {
		// Refused here, with the limit named, rather than sent and
		// refused by the host.
		return 0, tooBig(key, len(b.Data))
	}
	cl, err := c.dial()
	if err != nil {
		return 0, err
	}
	r, err := cl.Save(ctx, &pluginv1.SaveRequest{Key: key, Data: b.Data, Version: b.Version})
	if err != nil {
		return 0, cacheCallError("save", err)
	}
	if r.GetConflict() {
		return 0, core.ErrCacheConflict
	}
	return r.GetVersion(), nil
}

var (
	_ pluginv1.CacheServiceServer = (*cacheServer)(nil)
	_ core.ConditionalCache       = (*cacheClient)(nil)
)
