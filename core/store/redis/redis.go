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
// Saves are compare-and-set in a Lua script. Versions come from a counter
// per prefix (<prefix>version, no expiry) that is at least the server time
// in microseconds, so a version is never reused for a key, even after the
// entry expires and is written again.
//
// The client is a single-node client (goredis.NewClient); Redis Cluster is
// not supported.
package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
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
	c       *goredis.Client
	cipher  *store.Cipher
	log     zerolog.Logger
	addr    string // host:port, for messages
	prefix  string
	entries string // prefix + "e:"
	counter string // prefix + "version"
}

var errClosed = errors.New("redis: store is closed")

// Open connects to the Redis at rawURL (redis://[user:password@]host:port[/db]
// or rediss:// for TLS) and checks that it answers within the timeout.
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
	o, err := parseURL(rawURL)
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
	s := &Store{
		c:       goredis.NewClient(o),
		cipher:  cipher,
		log:     opts.Log,
		addr:    o.Addr,
		prefix:  prefix,
		entries: prefix + "e:",
		counter: prefix + "version",
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

// parseURL parses a redis:// or rediss:// URL. A url.Parse error quotes
// the whole URL, password included, so only its reason is kept.
func parseURL(rawURL string) (*goredis.Options, error) {
	if !strings.HasPrefix(rawURL, "redis://") && !strings.HasPrefix(rawURL, "rediss://") {
		return nil, errors.New("redis: the URL must start with redis:// or rediss:// (TLS)")
	}
	o, err := goredis.ParseURL(rawURL)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redis: invalid URL: %s", strings.TrimPrefix(err.Error(), "redis: "))
	}
	return o, nil
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
