package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
)

// Spec says how to run one plugin.
type Spec struct {
	// Flow is the flow id ("clientcreds"), used in errors and logs.
	Flow string
	// Path is the plugin binary.
	Path string
	// Pin is the expected SHA-256 of the binary, as "sha256:<hex>"; empty
	// means unpinned. A mismatch is refused before the binary runs. The
	// digest of a binary that has not changed is remembered for the life
	// of the process (pin.go), so restarts do not hash it again.
	Pin string
	// Log receives the plugin's log lines (flow=<id>); default Nop.
	Log zerolog.Logger
	// StartTimeout bounds the handshake; default 10s.
	StartTimeout time.Duration
	// Setup runs once after every (re)start, before the process serves any
	// call: typically Configure. An error kills the process.
	Setup func(ctx context.Context, c *Client) error
}

// Process is a lazily started plugin process. It starts on first use,
// restarts after a crash or a kill, and is safe for concurrent use.
type Process struct {
	spec Spec

	mu    sync.Mutex
	run   *running
	kills sync.WaitGroup
}

// running is one started plugin process.
type running struct {
	client *goplugin.Client
	rpc    *Client
	pid    int
	exe    *verifiedExe // nil when unpinned
	// done is closed once the process is gone; it ends the OS thread that
	// started it (startLocked).
	done chan struct{}
}

// stop kills the plugin and every process of its group, and waits until
// the plugin is gone.
func (r *running) stop() {
	r.client.Kill()
	// The plugin may have exited by itself (or gracefully, when go-plugin
	// closed its connection) and left children behind in its group.
	_ = killGroup(r.pid)
	r.exe.release()
	close(r.done)
}

// NewProcess returns a Process for spec; nothing runs yet.
func NewProcess(spec Spec) *Process {
	if spec.StartTimeout == 0 {
		spec.StartTimeout = 10 * time.Second
	}
	return &Process{spec: spec}
}

// Flow returns the flow id.
func (p *Process) Flow() string { return p.spec.Flow }

// Client returns a connected client, starting (and setting up) the plugin
// if it is not running.
func (p *Process) Client(ctx context.Context) (*Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run != nil && !p.run.client.Exited() {
		return p.run.rpc, nil
	}
	if p.run != nil {
		p.spec.Log.Warn().Str("flow", p.spec.Flow).Msg("plugin exited; starting it again")
		p.run.stop()
		p.run = nil
	}
	r, err := p.start(ctx)
	if err != nil {
		return nil, err
	}
	if p.spec.Setup != nil {
		if err := p.spec.Setup(ctx, r.rpc); err != nil {
			r.stop()
			return nil, err
		}
	}
	p.run = r
	return r.rpc, nil
}

func (p *Process) start(ctx context.Context) (*running, error) {
	var exe *verifiedExe
	if p.spec.Pin != "" {
		want, err := ParsePin(p.spec.Pin)
		if err != nil {
			return nil, &core.Error{Kind: core.KindFailed, Flow: p.spec.Flow, Err: err, Hint: "fix the pin in [plugins.pins]: sha256:<64 hex digits> (credhost plugins verify prints it)"}
		}
		// We check the pin ourselves rather than through go-plugin's
		// SecureConfig, which hashes a path and then runs the path (a
		// swap in between runs an unpinned binary) and hashes the whole
		// binary on every start: openVerified hashes the open file the
		// plugin is started from, and remembers the digest of an
		// unchanged one (exec.go, pin.go).
		exe, err = openVerified(p.spec.Path, want)
		if err != nil {
			return nil, p.startError(err)
		}
	}
	timeout := p.spec.StartTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	tlsConfig, tlsPair, err := newPairing()
	if err != nil {
		exe.release()
		return nil, core.Failed(p.spec.Flow, "plugin TLS keys: %v", err)
	}
	// go-plugin's start takes no context and holds its own lock until the
	// handshake or StartTimeout; a caller that gives up (a plugin hanging
	// before its handshake) must not leave the start, and this Process's
	// lock, behind it. The command is bound to abort, which runs only if
	// ctx ends before the start is over: the process group is killed and
	// the start returns at once.
	startCtx, abort := context.WithCancel(context.Background())
	cmd := exec.CommandContext(startCtx, p.spec.Path)
	cmd.Env = append(pluginEnv(p.spec.Log), tlsPair)
	if exe != nil {
		exe.command(cmd, p.spec.Path)
	}
	setProcAttr(cmd)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  servedHandshake(),
		VersionedPlugins: pluginSets(&flowPlugin{}),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		TLSConfig:        tlsConfig, // mutual TLS with Ed25519 keys: see tls.go
		StartTimeout:     timeout,
		Logger:           hclogFor(p.spec.Log, p.spec.Flow),
		GRPCDialOptions:  dialLimits(),
	})
	r := &running{client: client, exe: exe, done: make(chan struct{})}
	began := time.Now()
	stopWatch := context.AfterFunc(ctx, abort)
	proto, err := startLocked(client, r.done)
	if cfg := client.ReattachConfig(); cfg != nil {
		r.pid = cfg.Pid
	} else if cmd.Process != nil {
		r.pid = cmd.Process.Pid
	}
	if !stopWatch() {
		// ctx ended during the start, and abort killed the process.
		r.stop()
		return nil, &core.Error{Kind: core.KindFailed, Flow: p.spec.Flow,
			Err:  fmt.Errorf("start plugin %s: no handshake before the call ended: %w", p.spec.Path, context.Cause(ctx)),
			Hint: "the plugin did not start in time; run with --log-level=debug to see its output, or raise the profile's timeout"}
	}
	if err != nil {
		r.stop()
		return nil, p.startError(err)
	}
	if !exe.unchanged() {
		r.stop()
		return nil, &core.Error{Kind: core.KindFailed, Flow: p.spec.Flow,
			Err:  fmt.Errorf("start plugin %s: the binary was written to while it was being started; the plugin was stopped", p.spec.Path),
			Hint: "something is modifying the plugin binary; reinstall it, check who can write it, and pin it again (credhost plugins verify)"}
	}
	if runtime.GOOS != "windows" {
		// The plugin runs its own image now: our descriptor and a private
		// copy's directory are no longer needed (Windows keeps a running
		// binary's file; stop removes it there).
		exe.release()
	}
	raw, err := proto.Dispense(pluginName)
	if err != nil {
		r.stop()
		return nil, p.startError(err)
	}
	rpc, ok := raw.(*Client)
	if !ok {
		r.stop()
		return nil, core.Failed(p.spec.Flow, "plugin %s dispensed %T, not a flow", p.spec.Path, raw)
	}
	rpc.name, rpc.protocol, rpc.log = p.spec.Flow, client.NegotiatedVersion(), p.spec.Log
	r.rpc = rpc
	p.spec.Log.Debug().Str("flow", p.spec.Flow).Str("path", p.spec.Path).
		Int("protocol", client.NegotiatedVersion()).Int64("duration_ms", time.Since(began).Milliseconds()).Msg("plugin started")
	return r, nil
}

// startLocked runs client.Client, which forks the plugin, on a goroutine
// locked to an OS thread of its own that lives until done is closed.
// Linux's parent-death signal (procattr_linux.go) fires when the thread
// that forked the child ends, not the process; Go ends a thread when a
// goroutine exits while locked to it, and any goroutine of the host (an
// embedder's, a library's) could be scheduled on an ordinary thread, lock
// it and exit. A thread that only ever runs this goroutine ends when the
// plugin is gone, or with the host: exactly when the signal should fire.
// It costs one OS thread per running plugin.
func startLocked(client *goplugin.Client, done <-chan struct{}) (goplugin.ClientProtocol, error) {
	type result struct {
		proto goplugin.ClientProtocol
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		proto, err := client.Client()
		ch <- result{proto, err}
		<-done
	}()
	r := <-ch
	return r.proto, r.err
}

// pluginVersionRE finds the plugin's version in go-plugin's
// "incompatible API version with plugin. Plugin version: 3, Client
// versions: [1 2]".
var pluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)

func (p *Process) startError(err error) error {
	e := &core.Error{Kind: core.KindFailed, Flow: p.spec.Flow, Err: fmt.Errorf("start plugin %s: %w", p.spec.Path, err)}
	switch {
	case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
		e.Hint = "the plugin binary does not match its pin; it was not run. Reinstall the plugin you pinned, or pin this one after checking it (credhost plugins verify)"
	case strings.Contains(strings.ToLower(err.Error()), "incompatible api version"), strings.Contains(err.Error(), "protocol version"):
		theirs := "a protocol version"
		if m := pluginVersionRE.FindStringSubmatch(err.Error()); m != nil {
			theirs = "protocol " + m[1]
		}
		e.Err = fmt.Errorf("plugin %s speaks %s; this host speaks protocols %d to %d", p.spec.Path, theirs, MinProtocolVersion, ProtocolVersion)
		e.Hint = "upgrade credhost if the plugin is newer, or install a build of the plugin for this host"
	default:
		e.Hint = "check that the plugin binary is a credhost plugin for this platform; run with --log-level=debug to see its output"
	}
	return e
}

// Protocol returns the protocol version negotiated with the running
// plugin, or 0.
func (p *Process) Protocol() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run == nil {
		return 0
	}
	return p.run.client.NegotiatedVersion()
}

// Kill stops the process and its process group if it runs. It returns
// at once; the process is reaped in the background and Close waits for
// that.
func (p *Process) Kill() {
	p.mu.Lock()
	r := p.run
	p.run = nil
	p.mu.Unlock()
	if r == nil {
		return
	}
	p.kills.Add(1)
	go func() {
		defer p.kills.Done()
		r.stop()
	}()
}

// Close kills the process and waits until it is gone.
func (p *Process) Close() {
	p.Kill()
	p.kills.Wait()
}

// Running reports whether a plugin process is up.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run != nil && !p.run.client.Exited()
}

// Pid returns the plugin's process id, or 0.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run == nil {
		return 0
	}
	return p.run.pid
}

// ParsePin decodes "sha256:<64 hex>".
func ParsePin(pin string) ([]byte, error) {
	hexsum, ok := strings.CutPrefix(pin, "sha256:")
	if !ok {
		return nil, fmt.Errorf("pin %q must start with sha256:", pin)
	}
	sum, err := hex.DecodeString(hexsum)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("pin must be sha256: followed by %d hex digits", 2*sha256.Size)
	}
	return sum, nil
}

// Checksum returns the pin string of the file at path.
func Checksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// passEnv lists the variables a plugin inherits. Everything else, notably
// AZURE_CLIENT_SECRET and other credentials, stays in the host: flows get
// their settings through Configure, and a third-party plugin sees only
// what its profile gives it.
var passEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "LANG", "LC_ALL", "TZ",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"KRB5CCNAME", "KRB5_CONFIG", "KRB5_KTNAME", "KRB5_CLIENT_KTNAME",
	"DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "SSH_CONNECTION", "SSH_TTY", "XDG_RUNTIME_DIR",
	"SYSTEMROOT", "APPDATA", "LOCALAPPDATA", "USERPROFILE",
}

// logLevelEnv tells a plugin at which level to log.
const logLevelEnv = "CREDHOST_PLUGIN_LOG_LEVEL"

func pluginEnv(log zerolog.Logger) []string {
	env := make([]string, 0, len(passEnv)+1)
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, logLevelEnv+"="+pluginLevel(log).String())
}

// pluginLevel is the level the plugin logs at: the lowest at which log
// writes. It is not log.GetLevel(): the zero Logger (an sdk Options.Log
// left unset) writes nothing yet reads as debug, and a plugin told to log
// at debug sends lines on every call that the host parses and drops.
func pluginLevel(log zerolog.Logger) zerolog.Level {
	for lvl := zerolog.TraceLevel; lvl <= zerolog.PanicLevel; lvl++ {
		e := log.WithLevel(lvl)
		enabled := e.Enabled()
		e.Discard()
		if enabled {
			return lvl
		}
	}
	return zerolog.Disabled
}
