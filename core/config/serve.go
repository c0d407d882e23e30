package config

import "net/url"

// serveResources reads serve_resources: an array of resources, each an
// absolute URI (https://storage.azure.com, api://<app id>).
func (c *checker) serveResources(k string, v *node) Value {
	val := Value{Origin: v.pos, List: []string{}}
	const want = `an array of resources, like serve_resources = ["https://storage.azure.com"]`
	if v.kind != kArray {
		c.probs.add(v.pos, c.key(k), "expected %s, got %s", want, v.kind)
		return val
	}
	for _, it := range v.items {
		if it.kind != kString {
			c.probs.add(it.pos, c.key(k), "expected %s; an element is %s", want, it.kind)
			continue
		}
		if u, err := url.Parse(it.text); err != nil || u.Scheme == "" {
			c.probs.add(it.pos, c.key(k), "%q is not a resource URI: write it as an SDK asks for it, like \"https://storage.azure.com\"", it.text)
			continue
		}
		val.List = append(val.List, it.text)
	}
	if len(v.items) == 0 {
		c.probs.add(v.pos, c.key(k), "is empty: list the resources to serve, or remove it to serve any")
	}
	return val
}
