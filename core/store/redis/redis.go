// Package redis is credhost's token store for web farms: every host of an
// application shares one Redis (or Azure Cache for Redis) and so one token
// state.
//
// Each entry is a Redis hash under <prefix>e:<key> with two fields: v, the
// version in decimal, which the Lua scripts compare, and d, the payload
// sealed with store.Cipher under the full Redis key name as associated
// data, so that a value cannot be moved to another key. The payload holds
// the version again (authenticated), the expiry and the data; see
// format.go. Entries expire in Redis at Blob.ExpiresOn.
//
// Saves are compare-and-set in a Lua script. Versions are per key: the
// next version is above the entry's current one and at least the server
// time in microseconds, so a version is not reused for a key even after
// the entry expires and is written again. Every script touches exactly one
// key, so it always runs in one slot of a Redis Cluster.
//
// The client is go-redis's universal client: a single node (the URL), a
// Redis Cluster (more seed nodes with addr=host:port query parameters, or
// cluster=true for one seed), or a Sentinel group (master_name=<name>; the
// URL's host and any addr parameters are then the sentinels).
package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
)

// DefaultPrefix is the Redis key prefix when Options.Prefix is empty.
const DefaultPrefix = "credhost:"

// DefaultTimeout bounds each dial, read and write by default: a store that
// cannot be reached must say so quickly rather than hang a token request.
const DefaultTimeout = 2 * time.Second

// Options tunes a Store. Key is required; the other fields have defaults.
type Options struct {
	// Key is the 32-byte encryption key, given as 32 raw bytes, 64 hex
	// digits or the base64 of 32 bytes (see store.ParseKey). Every host
	// sharing a prefix must use the same key.
	Key core.Secret
	// Password, if set, replaces the URL's password, so that a config
	// can keep the URL plain and the password in an env: reference.
	Password core.Secret
	// Prefix starts every Redis key of this store; default
	// DefaultPrefix. Give each application its own, and choose them so
	// that none is a prefix of another.
	Prefix string
	// TLS is the TLS configuration for a rediss:// URL; default the
	// system roots and the URL's host as server name.
	TLS *tls.Config
	// CA holds PEM certificates to trust instead of the system roots,
	// for a Redis whose certificate a private CA issued. It needs a
	// rediss:// URL.
	CA []byte
	// Timeout bounds each dial, read and write; default the URL's
	// dial_timeout / read_timeout / write_timeout, else DefaultTimeout.
	Timeout time.Duration
	// Log receives a warning per damaged entry and a debug line on
	// connect. The zero Logger logs nothing.
	Log zerolog.Logger
}

// Store is a Redis token store. It implements core.Store and is safe for
// concurrent use by goroutines, processes and hosts.
type Store struct {
	c       goredis.UniversalClient
	cipher  *store.Cipher
	log     zerolog.Logger
	addr    string // host:port, for messages
	prefix  string
	entries string // prefix + "e:"
	// replicas is how many replicas must have a save before it counts
	// (min_replicas; WAIT), within waitTimeout.
	replicas    int
	waitTimeout time.Duration
}

var errClosed = errors.New("redis: store is closed")

// Open connects to the Redis at rawURL (redis://[user:password@]host:port[/db]
// or rediss:// for TLS) and checks that it answers within the timeout.
// Query parameters choose the topology: addr=host:port (repeatable) adds
// Redis Cluster seed nodes, cluster=true makes a single seed a cluster,
// and master_name=<name> makes the URL's host and the addr parameters the
// sentinels of a Sentinel group that serves the master of that name (the
// sentinels themselves take no password here; the user and password are
// the data nodes'). min_replicas=N makes a save count only once N replicas
// have it (WAIT, within the timeout), so that a Sentinel failover cannot
// lose a token a host was told is saved; it is not for a cluster.
// opts must set Key; a nil opts is an error. The error names the address
// and what to check; it never contains the password or the key.
func Open(ctx context.Context, rawURL string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	if opts.Key.IsZero() {
		return nil, errors.New("redis: no encryption key; set Options.Key (the host fills it from CREDHOST_CACHE_KEY or [cache] key)")
	}
	key, err := store.ParseKey(opts.Key)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	cipher, err := store.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	o, topo, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if !opts.Password.IsZero() {
		o.Password = opts.Password.Reveal()
	}
	if err := setTLS(o, opts); err != nil {
		return nil, err
	}
	if opts.Timeout > 0 {
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = opts.Timeout, opts.Timeout, opts.Timeout
	}
	for _, d := range []*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout} {
		if *d == 0 {
			*d = DefaultTimeout
		}
	}
	// go-redis dials up to 5 times per attempt and retries commands 3
	// times, which would turn one unreachable server into half a minute.
	if o.DialerRetries <= 0 {
		o.DialerRetries = 1
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	o.ContextTimeoutEnabled = true
	// A plain Redis sends no maintenance notifications; "auto" would
	// spend a command on every new connection to find that out.
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	u := &goredis.UniversalOptions{
		Addrs:                    append([]string{o.Addr}, topo.addrs...),
		DB:                       o.DB,
		Username:                 o.Username,
		Password:                 o.Password,
		MaxRetries:               o.MaxRetries,
		DialTimeout:              o.DialTimeout,
		DialerRetries:            o.DialerRetries,
		ReadTimeout:              o.ReadTimeout,
		WriteTimeout:             o.WriteTimeout,
		ContextTimeoutEnabled:    true,
		TLSConfig:                o.TLSConfig,
		MasterName:               topo.master,
		IsClusterMode:            topo.master == "" && (topo.cluster || len(topo.addrs) > 0),
		MaintNotificationsConfig: o.MaintNotificationsConfig,
	}
	if u.IsClusterMode && u.DB != 0 {
		return nil, errors.New("redis: a Redis Cluster has only database 0; remove the /<db> from the URL")
	}
	addr := o.Addr
	switch {
	case u.MasterName != "":
		addr = "the master " + u.MasterName + " of sentinels " + strings.Join(u.Addrs, ",")
	case u.IsClusterMode:
		addr = "the cluster of " + strings.Join(u.Addrs, ",")
		// A cluster client follows MOVED/ASK on its own; a failed node
		// must not cost many rounds of redirects.
		u.MaxRedirects = 3
	}
	s := &Store{
		c:       goredis.NewUniversalClient(u),
		cipher:  cipher,
		log:     opts.Log,
		addr:    addr,
		prefix:  prefix,
		entries: prefix + "e:",

		replicas:    topo.replicas,
		waitTimeout: o.ReadTimeout / 2, // the reply must come within the read timeout
	}
	pctx, cancel := context.WithTimeout(ctx, o.DialTimeout+o.ReadTimeout)
	defer cancel()
	if err := s.c.Ping(pctx).Err(); err != nil {
		_ = s.c.Close()
		return nil, s.fail("connect", err)
	}
	s.log.Debug().Str("cache", "redis").Str("addr", s.addr).Bool("tls", o.TLSConfig != nil).
		Str("prefix", prefix).Msg("connected to redis")
	return s, nil
}

// topology is what the URL's own query parameters (addr, cluster,
// master_name) ask for beyond a single node.
type topology struct {
	addrs    []string
	cluster  bool
	master   string
	replicas int
}

// parseURL parses a redis:// or rediss:// URL. A url.Parse error quotes
// the whole URL, password included, so only its reason is kept.
func parseURL(rawURL string) (*goredis.Options, topology, error) {
	var topo topology
	if !strings.HasPrefix(rawURL, "redis://") && !strings.HasPrefix(rawURL, "rediss://") {
		return nil, topo, errors.New("redis: the URL must start with redis:// or rediss:// (TLS)")
	}
	invalid := func(err error) error {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("redis: invalid URL: %s", strings.TrimPrefix(err.Error(), "redis: "))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, topo, invalid(err)
	}
	q := u.Query()
	topo.addrs, topo.master = q["addr"], q.Get("master_name")
	for _, a := range topo.addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, topo, fmt.Errorf("redis: invalid URL: addr=%q is not host:port", a)
		}
	}
	if c := q.Get("cluster"); c != "" {
		if topo.cluster, err = strconv.ParseBool(c); err != nil {
			return nil, topo, fmt.Errorf("redis: invalid URL: cluster=%q is not true or false", c)
		}
	}
	if topo.cluster && topo.master != "" {
		return nil, topo, errors.New("redis: invalid URL: set cluster=true or master_name, not both")
	}
	if r := q.Get("min_replicas"); r != "" {
		if topo.replicas, err = strconv.Atoi(r); err != nil || topo.replicas < 0 {
			return nil, topo, fmt.Errorf("redis: invalid URL: min_replicas=%q is not a number of replicas", r)
		}
		if topo.master == "" && (topo.cluster || len(topo.addrs) > 0) {
			return nil, topo, errors.New("redis: invalid URL: min_replicas is for a single node or a Sentinel group, not a cluster")
		}
	}
	q.Del("min_replicas")
	q.Del("addr")
	q.Del("cluster")
	q.Del("master_name")
	u.RawQuery = q.Encode()
	o, err := goredis.ParseURL(u.String())
	if err != nil {
		return nil, topo, invalid(err)
	}
	return o, topo, nil
}

// setTLS applies Options.TLS and Options.CA to o, which ParseURL gave a
// TLS config for rediss:// only.
func setTLS(o *goredis.Options, opts *Options) error {
	if opts.TLS == nil && len(opts.CA) == 0 {
		return nil
	}
	if o.TLSConfig == nil {
		return errors.New("redis: TLS settings (Options.TLS or Options.CA) need a rediss:// URL")
	}
	if opts.TLS != nil {
		cfg := opts.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = o.TLSConfig.ServerName
		}
		o.TLSConfig = cfg
	}
	if len(opts.CA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(opts.CA) {
			return errors.New("redis: Options.CA holds no PEM certificate")
		}
		o.TLSConfig.RootCAs = pool
	}
	return nil
}

// Close implements core.Store: it closes the connections. Later calls
// fail.
func (s *Store) Close() error {
	if err := s.c.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

// fail wraps an error of operation op with what to check. Server replies
// and network errors carry neither the password nor our data.
func (s *Store) fail(op string, err error) error {
	var (
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, goredis.ErrClosed):
		return errClosed
	case goredis.HasErrorPrefix(err, "WRONGPASS") || goredis.HasErrorPrefix(err, "NOAUTH") ||
		strings.Contains(err.Error(), "invalid password"):
		return fmt.Errorf("redis: %s: %s refused the credentials; check the user and password (in the URL or Options.Password): %w", op, s.addr, err)
	case errors.As(err, &certErr) || errors.As(err, &recErr) || strings.Contains(err.Error(), "tls:"):
		return fmt.Errorf("redis: %s: TLS with %s failed; check the URL scheme (rediss:// only for a TLS port) and that Options.CA or the system roots hold the CA of the server's certificate: %w", op, s.addr, err)
	case errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "EOF"):
		return fmt.Errorf("redis: %s: cannot reach %s; check the host and port in the URL, that Redis is running there, that no firewall blocks it, and the URL scheme (rediss:// for TLS): %w", op, s.addr, err)
	}
	return fmt.Errorf("redis: %s at %s: %w", op, s.addr, err)
}

// wrongKeyError reports an entry sealed with another key. It matches
// store.ErrWrongKey.
type wrongKeyError struct{ prefix string }

func (e *wrongKeyError) Error() string {
	return fmt.Sprintf("redis: an entry under prefix %q was encrypted with a different key than the configured one (CREDHOST_CACHE_KEY or [cache] key); every host sharing a prefix must use the same key, or delete the entry to start over", e.prefix)
}

func (e *wrongKeyError) Unwrap() error { return store.ErrWrongKey }

var _ core.Store = (*Store)(nil)

// RouteDriverLogs sends go-redis's own log lines (failed dials, pool
// events), which it otherwise prints to stderr through a global logger,
// to log at debug level. It changes a process-wide setting, so only a
// program's main (the CLI) calls it, never a library.
func RouteDriverLogs(log zerolog.Logger) { goredis.SetLogger(driverLog{log}) }

type driverLog struct{ log zerolog.Logger }

func (d driverLog) Printf(_ context.Context, format string, v ...any) {
	d.log.Debug().Str("cache", "redis").Msg(fmt.Sprintf(format, v...))
}
