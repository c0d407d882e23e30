package host

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/authority"
	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/core/plugin"
	"github.com/credhost/credhost/internal/boundedio"
)

// member is one flow of one profile, backed by a plugin process that
// starts on the first call and restarts after a crash or a kill.
type member struct {
	host    *Host
	profile *config.Profile
	flow    string
	timeout time.Duration

	mu      sync.Mutex
	process *plugin.Process
	desc    core.Description
}

// GetToken implements core.Credential.
func (m *member) GetToken(ctx context.Context, req core.TokenRequest) (core.Token, error) {
	// The timeout bounds the work; a prompt extends it for the person
	// (see callDeadline).
	ctx, deadline, cancel := withCallDeadline(ctx, m.timeout)
	defer cancel()
	ui := m.host.opts.UI
	if core.CanPrompt(ui) {
		ui = stretchUI{UI: ui, d: deadline}
	}
	proc, err := m.proc(ctx)
	if err != nil {
		return core.Token{}, err
	}
	client, err := proc.Client(ctx)
	if err != nil {
		return core.Token{}, m.setupError(err)
	}
	began := time.Now()
	tok, err := client.GetToken(ctx, req, ui)
	log := m.host.opts.Log.Debug().Str("profile", m.profile.Name).Str("flow", m.flow).Int64("duration_ms", time.Since(began).Milliseconds())
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, plugin.ErrTransport) {
			// A plugin that ignores cancellation must not linger, and one
			// whose connection broke is of no further use: kill it now;
			// the next call starts a fresh one.
			proc.Kill()
		}
		if deadline.exceeded(ctx) {
			err = deadline.error(m.flow)
		}
		log.Str("kind", core.KindOf(err).String()).Msg("flow gave no token")
		return core.Token{}, err
	}
	log.Time("expires_on", tok.ExpiresOn).Msg("flow returned a token")
	return tok, nil
}

// interactive reports whether the flow can talk to the user; it starts
// the plugin if needed to ask it.
func (m *member) interactive(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	proc, err := m.proc(ctx)
	if err != nil {
		return false, err
	}
	if _, err := proc.Client(ctx); err != nil {
		return false, m.setupError(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.desc.Interactive, nil
}

// proc returns the member's process, finding the binary on first use.
func (m *member) proc(ctx context.Context) (*plugin.Process, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.process != nil {
		return m.process, nil
	}
	path, err := Find(m.flow, m.host.pluginDirs())
	if err != nil {
		hint := fmt.Sprintf("install %s into the plugin dir, or remove %q from profile %q's chain", BinaryName(m.flow), m.flow, m.profile.Name)
		if m.profile.Default != nil {
			hint = fmt.Sprintf("install %s into the plugin dir, or narrow the default chain with %s", BinaryName(m.flow), config.EnvTokenCredentials)
		}
		return nil, &core.Error{Kind: core.KindUnavailable, Flow: m.flow, Err: err, Hint: hint}
	}
	pin := ""
	if v, ok := m.host.file.Plugins.Pins[m.flow]; ok {
		pin = v.Raw
	}
	m.process = plugin.NewProcess(plugin.Spec{
		Flow:  m.flow,
		Path:  path,
		Pin:   pin,
		Log:   m.host.opts.Log,
		Setup: m.setup,
	})
	m.host.track(m.process)
	return m.process, nil
}

// setup runs after every plugin start: describe, check the profile
// against the description, configure.
func (m *member) setup(ctx context.Context, c *plugin.Client) error {
	desc, err := c.Describe(ctx)
	if err != nil {
		return err
	}
	if desc.Name != m.flow {
		return core.Failed(m.flow, "plugin binary serves flow %q, not %q", desc.Name, m.flow)
	}
	if err := m.host.file.Policy.CheckPluginVersion(m.flow, desc.Version); err != nil {
		return &core.Error{Kind: core.KindFailed, Flow: m.flow, Err: err,
			Hint: "install a newer " + BinaryName(m.flow) + ", or ask whoever owns the system policy"}
	}
	m.mu.Lock()
	m.desc = desc
	m.mu.Unlock()
	cfg, err := m.flowConfig(desc)
	if err != nil {
		return err
	}
	store := core.PrefixCache{Prefix: partition(m.profile, m.flow), Cache: m.host.opts.Store}
	c.KeepDiscovery(core.PrefixCache{Prefix: discoveryKey(m.profile, m.flow), Cache: m.host.opts.Store})
	if err := c.Configure(ctx, cfg, store); err != nil {
		return m.configureError(err)
	}
	return nil
}

// flowConfig checks the profile's settings for this flow against the
// plugin's description and resolves secret references.
func (m *member) flowConfig(desc core.Description) (core.FlowConfig, error) {
	p := m.profile
	var errs []error
	if tenant := authority.Tenant(p.Authority.Raw); tenant != "" && slices.Contains(desc.ForbiddenTenants, strings.ToLower(tenant)) {
		use := "a tenant id or a tenant domain"
		if !slices.Contains(desc.ForbiddenTenants, "organizations") {
			use += ` or "organizations"`
		}
		errs = append(errs, p.ErrorAt("authority", "flow %s cannot use the %q authority: use %s", m.flow, tenant, use))
	}
	cfg := core.FlowConfig{
		Profile:   p.Name,
		Authority: p.Authority.Raw,
		ClientID:  p.ClientID.Raw,
		Options:   map[string]string{},
		Secrets:   map[string]core.Secret{},
	}
	base := ""
	if m.host.file.Path != "" {
		base = filepath.Dir(m.host.file.Path)
	}
	for key, v := range p.Flows[m.flow] {
		spec, ok := desc.Option(key)
		if !ok {
			errs = append(errs, p.ErrorAt(m.flow+"."+key, "%s", unknownOption(desc, key)))
			continue
		}
		if !spec.Secret {
			// A plain setting may come from the environment too
			// (client_id = "env:AZURE_CLIENT_ID"), resolved as a secret
			// reference is. Only env: is read here: file: is not, as a
			// plain option may well be a path.
			if strings.HasPrefix(v.Raw, "env:") {
				s, err := config.ResolveSecret(v, config.Env(m.host.opts.Getenv), base)
				if err != nil {
					errs = append(errs, p.ErrorAt(m.flow+"."+key, "%v", err))
					continue
				}
				cfg.Options[key] = s.Reveal()
				continue
			}
			cfg.Options[key] = v.Raw
			continue
		}
		s, err := config.ResolveSecret(v, config.Env(m.host.opts.Getenv), base)
		if err != nil {
			errs = append(errs, p.ErrorAt(m.flow+"."+key, "%v", err))
			continue
		}
		cfg.Secrets[key] = s
	}
	// The variables the flow reads from this machine: plugins run with a
	// curated environment, so the host sends exactly the names the flow
	// declares, read the way env: references are (opts.Getenv), except
	// the credentials credhost itself reads from its environment.
	cfg.Environment = make(map[string]core.Secret, len(desc.Environment))
	for _, name := range desc.Environment {
		if slices.Contains(withheldEnv, name) {
			continue
		}
		if v := m.host.opts.Getenv(name); v != "" {
			cfg.Environment[name] = core.NewSecret(v)
		}
	}
	if ca := p.CAFile.Raw; ca != "" {
		if !filepath.IsAbs(ca) && base != "" {
			ca = filepath.Join(base, ca)
		}
		// Bounded, and never a FIFO or a device (ca_file = "/dev/zero").
		pem, err := boundedio.ReadFile(ca, boundedio.MaxCAFile)
		if err != nil {
			errs = append(errs, p.ErrorAt("ca_file", "cannot read the CA file: %v", err))
		}
		cfg.CACertificates = pem
	}
	if len(errs) > 0 {
		return cfg, &core.Error{Kind: core.KindFailed, Flow: m.flow, Err: errors.Join(errs...),
			Hint: "fix the configuration; `credhost config validate` checks it without signing in"}
	}
	return cfg, nil
}

// withheldEnv are credentials of the host's own environment that no
// plugin gets, whatever its Describe names: a profile hands a flow its
// secrets explicitly (client_secret = "env:AZURE_CLIENT_SECRET").
var withheldEnv = []string{config.EnvClientSecret, config.EnvClientCertificatePassword, config.EnvPassword, config.EnvCacheKey}

func unknownOption(desc core.Description, key string) string {
	names := make([]string, len(desc.Options))
	for i, o := range desc.Options {
		names[i] = o.Name
	}
	return fmt.Sprintf("unknown option for flow %s (version %s); it accepts: %s", desc.Name, desc.Version, strings.Join(names, ", "))
}

// configureError places the plugin's field errors at their config lines.
// A flow with no settings at all in this profile is Unavailable (listed in
// the chain, but not set up for this profile); settings that are wrong are
// a failure, so a typo is never silently skipped.
func (m *member) configureError(err error) error {
	var ce *core.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	p := m.profile
	if len(p.Flows[m.flow]) == 0 {
		return &core.Error{Kind: core.KindUnavailable, Flow: m.flow, Err: fmt.Errorf("not configured for profile %q: %w", p.Name, err),
			Hint: fmt.Sprintf("add a [profiles.%s.%s] section (see `credhost plugins list`) or remove %s from the chain", p.Name, m.flow, m.flow)}
	}
	errs := make([]error, 0, len(ce.Fields))
	m.mu.Lock()
	desc := m.desc
	m.mu.Unlock()
	for _, f := range ce.Fields {
		key := m.flow + "." + f.Field
		_, own := desc.Option(f.Field)
		switch {
		case f.Field == "":
			key = m.flow
		case !own && (f.Field == "authority" || f.Field == "client_id" || f.Field == "ca_file"):
			// The profile's own setting, unless the flow has an option of
			// that name (managed identity's client_id).
			key = f.Field
		}
		errs = append(errs, p.ErrorAt(key, "%s", f.Message))
	}
	return &core.Error{Kind: core.KindFailed, Flow: m.flow, Err: errors.Join(errs...),
		Hint: "fix the configuration; `credhost config validate` checks it without signing in"}
}

// setupError passes classified errors through and names the plugin in
// anything else.
func (m *member) setupError(err error) error {
	var e *core.Error
	if errors.As(err, &e) {
		return err
	}
	return core.Failed(m.flow, "%v", err)
}
