package config

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// kind is the type of a node of the document tree, as named in messages.
type kind uint8

const (
	kTable kind = iota
	kArrayTables
	kArray
	kString
	kBool
	kInteger
	kFloat
	kDateTime
)

func (k kind) String() string {
	switch k {
	case kTable:
		return "a table"
	case kArrayTables:
		return "an array of tables"
	case kArray:
		return "an array"
	case kString:
		return "a string"
	case kBool:
		return "a boolean"
	case kInteger:
		return "an integer"
	case kFloat:
		return "a float"
	default:
		return "a date/time"
	}
}

// node is a TOML value or table with the position of its key. It copies
// everything it needs out of the parser, whose nodes live only until the
// next expression.
type node struct {
	kind kind
	// pos is where the value's key is (for an array element: the element
	// itself). For a table it is its [header] if it has one, else its
	// first mention as part of a longer key.
	pos    Origin
	header bool
	// text is a scalar's value: the unescaped string, or the literal as
	// written for the other kinds.
	text string
	// items are an array's elements, or the tables of an array of tables.
	items []*node
	// keys lists a table's keys in document order.
	keys   []string
	fields map[string]*node
}

func newTable(pos Origin) *node {
	return &node{kind: kTable, pos: pos, fields: map[string]*node{}}
}

func (n *node) set(key string, child *node) {
	n.keys = append(n.keys, key)
	n.fields[key] = child
}

// builder turns a document into a tree of nodes.
type builder struct {
	path  string
	data  []byte
	lines []int // offset of the start of each line
	probs *problems
	// flag, when set, is the origin of every node and problem: the
	// document is a command-line setting, where a position means nothing.
	flag Origin
}

// parseTree checks the document with go-toml's decoder (syntax and TOML's
// own rules, such as keys defined twice), then walks it with go-toml's
// unstable parser to build a tree that knows where each key is.
func parseTree(path string, data []byte, probs *problems) *node {
	return (&builder{path: path, probs: probs}).parse(data)
}

// parseTreeAs is parseTree for a document that is not a file (a flag's
// value): every value and problem gets origin o.
func parseTreeAs(o Origin, data []byte, probs *problems) *node {
	return (&builder{probs: probs, flag: o}).parse(data)
}

func (b *builder) parse(data []byte) *node {
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // a BOM some editors write
	b.data, b.lines = data, []int{0}
	for i, c := range data {
		if c == '\n' {
			b.lines = append(b.lines, i+1)
		}
	}
	if off, over := overMaxKeys(data); over {
		b.probs.list = append(b.probs.list, &Error{Origin: b.at(off),
			Msg: fmt.Sprintf("more than %d keys and tables in one file: a config file holds profiles by the dozen; split it or remove unused profiles", maxKeys)})
		return nil
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		b.syntaxError(err)
		return nil
	}

	root := newTable(b.at(0))
	cur := root
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys := e.Key()
			cur = b.tableHeader(root, &keys, e.Kind == unstable.ArrayTable)
		case unstable.KeyValue:
			b.keyValue(cur, e)
		}
		if cur == nil {
			return nil
		}
	}
	if err := p.Error(); err != nil {
		b.syntaxError(err)
		return nil
	}
	return root
}

// maxKeys bounds the keys and tables of one document (each part of a
// dotted key counts). go-toml's decoder (v2.4.3), which checks TOML's
// rules below, looks every key up among all the keys before it, so its
// time grows with the square of their number: 27,000 profiles in 4 MiB
// took 20 s. Ten thousand keys (some two thousand profiles) parse in a
// fraction of a second.
const maxKeys = 10000

// overMaxKeys counts keys in one linear pass and reports the offset
// where the count passed maxKeys. A syntax error ends the count: the
// decoder reports it.
func overMaxKeys(data []byte) (offset int, over bool) {
	n := 0
	var count func(it unstable.Iterator) bool
	add := func(key unstable.Iterator) bool {
		for key.Next() {
			if n++; n > maxKeys {
				offset = int(key.Node().Raw.Offset)
				return true
			}
		}
		return false
	}
	// count walks the values of an expression or an array for inline
	// tables, whose keys count too.
	count = func(it unstable.Iterator) bool {
		for it.Next() {
			c := it.Node()
			switch c.Kind {
			case unstable.KeyValue:
				if add(c.Key()) || count(c.Value().Children()) {
					return true
				}
			case unstable.Array, unstable.InlineTable:
				if count(c.Children()) {
					return true
				}
			}
		}
		return false
	}
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			if add(e.Key()) {
				return offset, true
			}
		case unstable.KeyValue:
			if add(e.Key()) || count(e.Value().Children()) {
				return offset, true
			}
		}
	}
	return 0, false
}

// at returns the origin of a byte offset of the document.
func (b *builder) at(offset int) Origin {
	if !b.flag.IsZero() {
		return b.flag
	}
	line := sort.Search(len(b.lines), func(i int) bool { return b.lines[i] > offset }) - 1
	line = max(line, 0)
	return Origin{File: b.path, Line: line + 1, Col: offset - b.lines[line] + 1}
}

// posOf returns the origin of a parser node, or fallback when the node
// carries no position (arrays).
func (b *builder) posOf(n *unstable.Node, fallback Origin) Origin {
	if n.Kind == unstable.Array || int(n.Raw.Offset) >= len(b.data) {
		return fallback
	}
	return b.at(int(n.Raw.Offset))
}

func (b *builder) syntaxError(err error) {
	e := &Error{Origin: Origin{File: b.path}, Msg: "invalid TOML: " + err.Error(), Err: err}
	var de *toml.DecodeError
	var pe *unstable.ParserError
	switch {
	case errors.As(err, &de):
		// de.Key() is sometimes relative to the current table, and the
		// message names the key anyway: leave Key empty.
		e.Origin.Line, e.Origin.Col = de.Position()
		e.Msg = "invalid TOML: " + trimTOML(de.Error())
		if strings.Contains(e.Msg, "already defined") || strings.Contains(e.Msg, "already exists") {
			e.Msg += ": define each key and table once"
		}
	case errors.As(err, &pe):
		// Highlight is a slice of the document: its capacity tells where.
		if off := cap(b.data) - cap(pe.Highlight); off >= 0 && off <= len(b.data) {
			e.Origin = b.at(off)
		}
		e.Msg = "invalid TOML: " + pe.Message
	}
	if !b.flag.IsZero() {
		e.Origin = b.flag
	}
	b.probs.list = append(b.probs.list, e)
}

func trimTOML(s string) string { return strings.TrimPrefix(s, "toml: ") }

// keyParts copies the parts of a key, their positions, and the offset of
// the first part.
func (b *builder) keyParts(it *unstable.Iterator) (parts []string, pos []Origin, first int) {
	for it.Next() {
		k := it.Node()
		if len(parts) == 0 {
			first = int(k.Raw.Offset)
		}
		parts = append(parts, string(k.Data))
		pos = append(pos, b.at(int(k.Raw.Offset)))
	}
	return parts, pos, first
}

// tableHeader handles [a.b.c] and [[a.b.c]], returning the table that the
// following key/values go into, or nil after a conflict.
func (b *builder) tableHeader(root *node, it *unstable.Iterator, array bool) *node {
	parts, pos, start := b.keyParts(it)
	if len(parts) == 0 {
		return root
	}
	// Point at the opening bracket rather than the first key.
	start = min(start, len(b.data))
	for start > 0 && (b.data[start-1] == ' ' || b.data[start-1] == '\t') {
		start--
	}
	for start > 0 && b.data[start-1] == '[' {
		start--
	}
	header := b.at(start)

	t := b.descend(root, parts[:len(parts)-1], pos)
	if t == nil {
		return nil
	}
	last := parts[len(parts)-1]
	existing := t.fields[last]
	switch {
	case array && existing == nil:
		existing = &node{kind: kArrayTables, pos: header, header: true}
		t.set(last, existing)
		fallthrough
	case array && existing.kind == kArrayTables:
		el := newTable(header)
		el.header = true
		existing.items = append(existing.items, el)
		return el
	case existing == nil:
		el := newTable(header)
		el.header = true
		t.set(last, el)
		return el
	case existing.kind == kTable:
		existing.pos, existing.header = header, true
		return existing
	}
	b.conflict(header, parts)
	return nil
}

// descend walks (creating as needed) the tables named by parts, starting at
// t. In an array of tables it goes into the last table.
func (b *builder) descend(t *node, parts []string, pos []Origin) *node {
	for i, part := range parts {
		next := t.fields[part]
		switch {
		case next == nil:
			next = newTable(pos[i])
			t.set(part, next)
		case next.kind == kArrayTables && len(next.items) > 0:
			next = next.items[len(next.items)-1]
		case next.kind != kTable:
			b.conflict(pos[i], parts[:i+1])
			return nil
		}
		t = next
	}
	return t
}

// conflict reports a key used both as a value and as a table. go-toml's
// decoder rejects such documents first, so this is only a safety net.
func (b *builder) conflict(o Origin, parts []string) {
	b.probs.add(o, dotted(parts...), "defined twice, once as a table and once as a value: keep one")
}

// keyValue adds `a.b = value` to table t.
func (b *builder) keyValue(t *node, kv *unstable.Node) {
	keys := kv.Key()
	parts, pos, _ := b.keyParts(&keys)
	if len(parts) == 0 {
		return
	}
	t = b.descend(t, parts[:len(parts)-1], pos)
	if t == nil {
		return
	}
	last, at := parts[len(parts)-1], pos[len(pos)-1]
	if _, dup := t.fields[last]; dup {
		b.probs.add(at, dotted(parts...), "defined twice: keep one")
		return
	}
	t.set(last, b.value(kv.Value(), at))
}

// value copies a parser value node; pos is where its key is.
func (b *builder) value(v *unstable.Node, pos Origin) *node {
	n := &node{pos: pos, text: string(v.Data)}
	switch v.Kind {
	case unstable.String:
		n.kind = kString
	case unstable.Bool:
		n.kind = kBool
	case unstable.Integer:
		n.kind = kInteger
	case unstable.Float:
		n.kind = kFloat
	case unstable.Array:
		n.kind = kArray
		n.text = ""
		n.items = []*node{}
		it := v.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			n.items = append(n.items, b.value(c, b.posOf(c, pos)))
		}
	case unstable.InlineTable:
		n = newTable(pos)
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				b.keyValue(n, c)
			}
		}
	default:
		n.kind = kDateTime
	}
	return n
}
