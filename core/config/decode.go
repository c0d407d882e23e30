package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/credhost/credhost/core/authority"
)

// decoder maps the document tree onto File, reporting every key it does
// not know and every value of the wrong type or form.
type decoder struct {
	probs *problems
	// layer is the kind of file being read: only the system file may
	// hold [policy]. Parse leaves it zero, which reads like a user file.
	layer LayerKind
	// systemPath names the system file in the message that refuses a
	// [policy] elsewhere.
	systemPath string
}

func (d *decoder) file(path string, root *node) *File {
	f := &File{Path: path, Profiles: map[string]*Profile{}, Plugins: Plugins{Pins: map[string]Value{}}, Cache: Cache{MinLifetime: DefaultMinLifetime}}
	for _, k := range root.keys {
		n := root.fields[k]
		switch k {
		case "defaults":
			if d.isTable(n, []string{k}, "[defaults]") {
				f.Defaults = d.defaults(n)
			}
		case "profiles":
			if !d.isTable(n, []string{k}, "[profiles.<name>]") {
				continue
			}
			for _, name := range n.keys {
				pn := n.fields[name]
				if !d.isTable(pn, []string{k, name}, fmt.Sprintf("[profiles.%s]", dotted(name))) {
					continue
				}
				f.Profiles[name] = d.profile(name, pn)
				f.Order = append(f.Order, name)
			}
		case "plugins":
			if d.isTable(n, []string{k}, "[plugins]") {
				f.Plugins = d.plugins(n)
			}
		case "agent":
			if d.isTable(n, []string{k}, "[agent]") {
				f.Agent = d.agent(n)
			}
		case "cache":
			if d.isTable(n, []string{k}, "[cache]") {
				f.Cache = d.cache(n)
			}
		case keyProjects:
			if d.layer == LayerFlags {
				d.probs.add(n.pos, keyProjects, "[projects] is read from the system and user files only: a project is trusted before flags are read; add it to your user config")
				continue
			}
			if d.isTable(n, []string{k}, "[projects]") {
				f.Projects = d.projects(n)
			}
		case keyPolicy:
			if d.layer != LayerSystem {
				// Refused wherever it is written, even if malformed: a
				// lower layer must not look as if it could set policy.
				d.probs.add(n.pos, keyPolicy, "[policy] is read only from the system file (%s): the user and project files, and flags, cannot set or loosen it; remove this table", d.systemName())
				continue
			}
			if d.isTable(n, []string{k}, "[policy]") {
				f.Policy = d.policy(n)
			}
		default:
			known, takes := topKeys, "the file takes [defaults], [profiles.<name>], [plugins], [cache], [agent] and [projects]"
			if d.layer == LayerSystem {
				known = append(known[:len(known):len(known)], keyPolicy)
				takes = "the system file takes [defaults], [profiles.<name>], [plugins], [cache], [agent], [projects] and [policy]"
			}
			d.unknown(n, []string{k}, known, takes)
		}
	}
	return f
}

func (d *decoder) systemName() string {
	if d.systemPath != "" {
		return d.systemPath
	}
	return DefaultSystemPath()
}

// finish completes a File whose layers are all merged: it applies
// [defaults] to every profile and reports what is missing or
// contradictory across the whole (a setting may come from any layer).
func finish(f *File, probs *problems) {
	for _, name := range f.Order {
		f.Defaults.applyTo(f.Profiles[name])
	}
	checkComplete(f, probs)
}

// checkComplete reports the settings each profile lacks and the [cache]
// settings that contradict each other.
func checkComplete(f *File, probs *problems) {
	for _, name := range f.Order {
		(&checker{probs: probs}).required(f.Profiles[name])
	}
	checkCache(&f.Cache, probs)
}

// isTable reports whether n is a table, reporting it otherwise; want
// shows how the table is written.
func (d *decoder) isTable(n *node, path []string, want string) bool {
	if n.kind == kTable {
		return true
	}
	d.probs.add(n.pos, dotted(path...), "expected a table (%s), got %s", want, n.kind)
	return false
}

// unknown reports a key that has no meaning where it is.
func (d *decoder) unknown(n *node, path []string, known []string, takes string) {
	key := path[len(path)-1]
	if hint := didYouMean(key, known); hint != "" {
		d.probs.add(n.pos, dotted(path...), "unknown key%s", hint)
		return
	}
	d.probs.add(n.pos, dotted(path...), "unknown key: %s", takes)
}

func (d *decoder) defaults(n *node) Defaults {
	var p Profile
	path := []string{"defaults"}
	c := checker{probs: d.probs, table: path}
	for _, k := range n.keys {
		v := n.fields[k]
		switch {
		case c.setting(&p, k, v):
		case k == keyMatch:
			d.probs.add(v.pos, dotted("defaults", k), "[defaults] takes no match rules: they choose one profile, so put them in [profiles.<name>.match]")
		case v.kind == kTable:
			d.probs.add(v.pos, dotted("defaults", k), "[defaults] has no flow sections: put flow settings in [profiles.<name>.%s]", dotted(k))
		default:
			d.unknown(v, append(path, k), settingKeys, "[defaults] takes "+strings.Join(settingKeys, ", "))
		}
	}
	return Defaults{
		Origin:    n.pos,
		Authority: p.Authority, ClientID: p.ClientID,
		Chain: p.Chain, ChainOrigin: p.ChainOrigin,
		Timeout: p.Timeout, TimeoutOrigin: p.TimeoutOrigin,
		CAFile:         p.CAFile,
		RememberWinner: p.RememberWinner, RememberWinnerOrigin: p.RememberWinnerOrigin,
	}
}

// applyTo copies into p the settings that p does not set itself.
func (df *Defaults) applyTo(p *Profile) {
	if !p.Authority.IsSet() {
		p.Authority = df.Authority
	}
	if !p.ClientID.IsSet() {
		p.ClientID = df.ClientID
	}
	if p.ChainOrigin.IsZero() {
		p.Chain, p.ChainOrigin = df.Chain, df.ChainOrigin
	}
	if p.TimeoutOrigin.IsZero() {
		p.Timeout, p.TimeoutOrigin = df.Timeout, df.TimeoutOrigin
	}
	if !p.CAFile.IsSet() {
		p.CAFile = df.CAFile
	}
	if p.RememberWinnerOrigin.IsZero() {
		p.RememberWinner, p.RememberWinnerOrigin = true, Origin{}
		if !df.RememberWinnerOrigin.IsZero() {
			p.RememberWinner, p.RememberWinnerOrigin = df.RememberWinner, df.RememberWinnerOrigin
		}
	}
}

func (d *decoder) profile(name string, n *node) *Profile {
	p := &Profile{
		Name:           name,
		Origin:         n.pos,
		RememberWinner: true,
		Flows:          map[string]map[string]Value{},
		FlowOrigins:    map[string]Origin{},
	}
	path := []string{"profiles", name}
	if !validProfileName(name) {
		d.probs.add(n.pos, dotted(path...), "%s", profileNameRule)
	}
	c := checker{probs: d.probs, table: path}
	for _, k := range n.keys {
		v := n.fields[k]
		switch {
		case c.setting(p, k, v):
		case k == keyMatch:
			p.Match = d.match(append(path, k), v)
		case k == keyServeResources:
			p.ServeResources = c.serveResources(k, v)
		case v.kind == kTable:
			d.flowSection(p, k, v)
		default:
			d.unknown(v, append(path, k), append(settingKeys[:len(settingKeys):len(settingKeys)], keyMatch, keyServeResources), fmt.Sprintf("a profile takes %s, %s, [profiles.%s.match] and [profiles.%s.<flow>] sections",
				strings.Join(settingKeys, ", "), keyServeResources, dotted(name), dotted(name)))
		}
	}
	return p
}

// flowSection reads [profiles.<name>.<flow>]: any keys, whose values must
// be strings, booleans, integers or arrays of strings.
func (d *decoder) flowSection(p *Profile, flow string, n *node) {
	path := []string{"profiles", p.Name, flow}
	if !validFlowID(flow) {
		d.probs.add(n.pos, dotted(path...), "flow section name %s", flowIDRule(flow))
	}
	opts := make(map[string]Value, len(n.keys))
	for _, k := range n.keys {
		v := n.fields[k]
		val := Value{Origin: v.pos}
		switch v.kind {
		case kString, kBool:
			val.Raw = v.text
		case kInteger:
			i, err := strconv.ParseInt(v.text, 0, 64)
			if err != nil { // go-toml accepted it, so this does not happen
				d.probs.add(v.pos, dotted(append(path, k)...), "invalid integer: quote the value")
			}
			val.Raw = strconv.FormatInt(i, 10)
		case kArray:
			val.List = make([]string, 0, len(v.items))
			for _, it := range v.items {
				if it.kind != kString {
					d.probs.add(it.pos, dotted(append(path, k)...), "expected an array of strings, but an element is %s: quote it", it.kind)
					continue
				}
				val.List = append(val.List, it.text)
			}
		case kTable, kArrayTables:
			d.probs.add(v.pos, dotted(append(path, k)...), "flow settings are strings, booleans, integers or arrays of strings, not %s", v.kind)
		default:
			d.probs.add(v.pos, dotted(append(path, k)...), "flow settings are strings, booleans, integers or arrays of strings, not %s: quote the value", v.kind)
		}
		opts[k] = val
	}
	p.Flows[flow] = opts
	p.FlowOrigins[flow] = n.pos
}

func (d *decoder) plugins(n *node) Plugins {
	pl := Plugins{Pins: map[string]Value{}}
	c := checker{probs: d.probs, table: []string{"plugins"}}
	for _, k := range n.keys {
		v := n.fields[k]
		path := []string{"plugins", k}
		switch k {
		case "dir":
			if s, ok := c.str(k, v, "a directory path"); ok {
				if s == "" {
					d.probs.add(v.pos, dotted(path...), "is empty: set a directory, or remove the key")
				}
				pl.Dir = Value{Raw: s, Origin: v.pos}
			}
		case "pins":
			if !d.isTable(v, path, "[plugins.pins]") {
				continue
			}
			for _, flow := range v.keys {
				pin := v.fields[flow]
				pc := checker{probs: d.probs, table: path}
				s, ok := pc.str(flow, pin, `"sha256:<64 hex digits>"`)
				if !ok {
					continue
				}
				if !validFlowID(flow) {
					d.probs.add(pin.pos, dotted(append(path, flow)...), "%s", flowIDRule(flow))
				}
				if !validPin(s) {
					d.probs.add(pin.pos, dotted(append(path, flow)...), "a pin is \"sha256:\" and 64 lowercase hex digits; `credhost plugins verify` prints the line to use")
				}
				pl.Pins[flow] = Value{Raw: s, Origin: pin.pos}
			}
		default:
			d.unknown(v, path, pluginKeys, "[plugins] takes dir and [plugins.pins]")
		}
	}
	return pl
}

// checker checks settings and reports problems under a table's key.
type checker struct {
	probs *problems
	table []string
}

func (c *checker) key(k string) string {
	return dotted(append(c.table[:len(c.table):len(c.table)], k)...)
}

// setting reads one of the settings a profile and [defaults] share into p;
// it returns false if k is not one. A value of the wrong type or form is
// reported, and still marks the setting present (its origin is set) so
// that it is not reported missing too.
func (c *checker) setting(p *Profile, k string, v *node) bool {
	switch k {
	case keyAuthority:
		s, ok := c.str(k, v, `an https URL like "https://login.microsoftonline.com/<tenant>"`)
		if ok {
			c.authority(s, v.pos)
		}
		p.Authority = Value{Raw: s, Origin: v.pos}
	case keyClientID:
		s, ok := c.str(k, v, "the application (client) id")
		if ok {
			c.clientID(s, v.pos)
		}
		p.ClientID = Value{Raw: s, Origin: v.pos}
	case keyChain:
		p.ChainOrigin = v.pos
		if v.kind == kString {
			c.probs.add(v.pos, c.key(k), "expected an array of flow ids, got a string: write chain = [%q]", v.text)
			return true
		}
		if v.kind != kArray {
			c.probs.add(v.pos, c.key(k), `expected an array of flow ids, like chain = ["devicecode", "clientcreds"], got %s`, v.kind)
			return true
		}
		ids := make([]string, 0, len(v.items))
		pos := make([]Origin, 0, len(v.items))
		for _, it := range v.items {
			if it.kind != kString {
				c.probs.add(it.pos, c.key(k), `chain entries are flow ids in quotes, like "devicecode", not %s`, it.kind)
				continue
			}
			ids = append(ids, it.text)
			pos = append(pos, it.pos)
		}
		if len(ids) == len(v.items) {
			c.chain(ids, pos, v.pos)
		}
		p.Chain = ids
	case keyTimeout:
		p.TimeoutOrigin = v.pos
		s, ok := c.str(k, v, `a duration like "30s" or "2m"`)
		if !ok {
			return true
		}
		dur, err := time.ParseDuration(s)
		switch {
		case err != nil:
			c.probs.add(v.pos, c.key(k), `invalid duration %q: write a number and a unit, like "30s", "2m" or "1m30s"`, s)
		case dur <= 0:
			c.probs.add(v.pos, c.key(k), "%s", timeoutRule)
		}
		p.Timeout = dur
	case keyCAFile:
		s, ok := c.str(k, v, "the path of a PEM file")
		if ok && s == "" {
			c.probs.add(v.pos, c.key(k), "is empty: set the path of a PEM file, or remove the key")
		}
		p.CAFile = Value{Raw: s, Origin: v.pos}
	case keyRememberWinner:
		p.RememberWinnerOrigin = v.pos
		if v.kind != kBool {
			c.probs.add(v.pos, c.key(k), "expected true or false, got %s", v.kind)
			return true
		}
		p.RememberWinner = v.text == "true"
	default:
		return false
	}
	return true
}

// str returns a string value, reporting any other type; want describes
// the expected value.
func (c *checker) str(k string, v *node, want string) (string, bool) {
	if v.kind != kString {
		c.probs.add(v.pos, c.key(k), "expected a string (%s), got %s", want, v.kind)
		return "", false
	}
	return v.text, true
}

func (c *checker) authority(s string, o Origin) {
	if _, err := authority.Parse(s); err != nil {
		c.probs.add(o, c.key(keyAuthority), "%v", err)
	}
}

func (c *checker) clientID(s string, o Origin) {
	if strings.TrimSpace(s) == "" {
		c.probs.add(o, c.key(keyClientID), "is empty: set it to the application (client) id of the app registration")
	}
}

// chain checks a chain's flow ids; pos holds each id's origin, or is nil
// when only the chain's origin is known.
func (c *checker) chain(ids []string, pos []Origin, o Origin) {
	if len(ids) == 0 {
		c.probs.add(o, c.key(keyChain), `is empty: list at least one flow, like chain = ["devicecode"]`)
		return
	}
	at := func(i int) Origin {
		if i < len(pos) {
			return pos[i]
		}
		return o
	}
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		switch {
		case !validFlowID(id):
			c.probs.add(at(i), c.key(keyChain), "%s", flowIDRule(id))
		case seen[id]:
			c.probs.add(at(i), c.key(keyChain), "%q is listed twice: list each flow once", id)
		}
		seen[id] = true
	}
}

// required reports the settings a profile lacks, at its header.
func (c *checker) required(p *Profile) {
	at := p.Origin
	key := func(k string) string { return p.key(k) }
	if !p.Authority.IsSet() && p.Authority.Raw == "" {
		c.probs.add(at, key(keyAuthority), `missing: set authority = "https://login.microsoftonline.com/<tenant id or domain>" in the profile or in [defaults]`)
	}
	if !p.ClientID.IsSet() && p.ClientID.Raw == "" {
		c.probs.add(at, key(keyClientID), `missing: set client_id = "<application (client) id>" in the profile or in [defaults]`)
	}
	if p.ChainOrigin.IsZero() && len(p.Chain) == 0 {
		c.probs.add(at, key(keyChain), `missing: set chain = ["<flow>", ...], the flows to try in order, in the profile or in [defaults]`)
	}
}

const (
	profileNameRule = "profile names may only hold letters, digits, '-' and '_'"
	timeoutRule     = `must be positive, like "30s" or "2m"; remove it for the default`
)

func validProfileName(s string) bool { return isBareKey(s) }

// validFlowID reports whether s is a flow id: one lowercase word (letters,
// then letters or digits), as in credhost-plugin-<flow>.
func validFlowID(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// flowIDRule explains why id is not a flow id, suggesting one if it is
// close.
func flowIDRule(id string) string {
	msg := fmt.Sprintf("%q is not a flow id: flow ids are one lowercase word, like \"devicecode\"", id)
	fixed := strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r == '-' || r == '_' || r == ' ' || r == '.':
			return -1
		}
		return r
	}, id)
	if fixed != id && validFlowID(fixed) {
		msg += fmt.Sprintf("; did you mean %q?", fixed)
	}
	return msg
}

// validPin reports whether s is "sha256:" and 64 lowercase hex digits.
func validPin(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
