package emulator

import "sync"

// counters counts requests per key. It is safe for concurrent use.
type counters struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counters) add(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	for _, k := range keys {
		c.n[k]++
	}
}

func (c *counters) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = nil
}

// CountAll is the Count key of every request the emulator received,
// whatever its endpoint (unknown paths and refused methods included).
const CountAll = "all"

// Count returns how many requests reached an endpoint since the last
// ResetCounts, faulted ones included. Keys are endpoint names
// ("discovery", "keys", "instance_discovery", "token") and, for the token
// endpoint, "token:<grant>" per supported grant type, e.g.
// "token:client_credentials". Unknown keys count 0.
func (s *Server) Count(key string) int { return s.counters.get(key) }

// ResetCounts sets every counter to zero.
func (s *Server) ResetCounts() { s.counters.reset() }
