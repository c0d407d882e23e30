package config

// Agent is the [agent] table: whether callers use `credhost agent`.
type Agent struct {
	// Disabled is `enabled = false`: every call runs in-process and no
	// agent is started. The zero Agent uses the agent.
	Disabled bool
	// Origin is where enabled was set; zero if it was not.
	Origin Origin
}

// IsSet says whether a layer set enabled.
func (a Agent) IsSet() bool { return !a.Origin.IsZero() }

var agentKeys = []string{"enabled"}

func (d *decoder) agent(n *node) Agent {
	var a Agent
	c := checker{probs: d.probs, table: []string{"agent"}}
	for _, k := range n.keys {
		v := n.fields[k]
		switch k {
		case "enabled":
			if v.kind != kBool {
				c.probs.add(v.pos, c.key(k), "expected true or false, got %s", v.kind)
				continue
			}
			a.Disabled, a.Origin = v.text != "true", v.pos
		default:
			d.unknown(v, []string{"agent", k}, agentKeys, "[agent] takes enabled")
		}
	}
	return a
}
