package federation

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Bounds of every XML document this package reads. A real MEX document is
// about 60 KiB and an RSTR about 10 KiB; the bounds leave room for
// verbose servers while keeping a hostile one from exhausting memory.
const (
	// MaxDocumentSize bounds a MEX document or a WS-Trust response.
	MaxDocumentSize = 1 << 20
	// maxDepth bounds element nesting: MEX policies nest about 12 deep.
	maxDepth = 64
	// maxTokens bounds the number of XML tokens of one document.
	maxTokens = 200_000
)

// ErrMalformed is wrapped by every error about a document that is not
// acceptable XML (too big, too deep, a DTD, not well-formed).
var ErrMalformed = errors.New("malformed XML")

// checkXML reads the whole document once and rejects what the parsers
// must never see: more than MaxDocumentSize bytes, nesting deeper than
// maxDepth, more than maxTokens tokens, a DTD (<!DOCTYPE or <!ENTITY),
// or XML that is not well-formed. encoding/xml expands no entities beyond
// the five predefined ones, so a DTD can only be a sign of an attack.
func checkXML(data []byte) error {
	if len(data) > MaxDocumentSize {
		return fmt.Errorf("%w: document is larger than %d bytes", ErrMalformed, MaxDocumentSize)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	depth, tokens, roots := 0, 0, 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, shortXMLErr(err))
		}
		if tokens++; tokens > maxTokens {
			return fmt.Errorf("%w: more than %d XML tokens", ErrMalformed, maxTokens)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			if depth++; depth > maxDepth {
				return fmt.Errorf("%w: elements nest deeper than %d", ErrMalformed, maxDepth)
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return fmt.Errorf("%w: DTDs and entity declarations are not accepted", ErrMalformed)
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("%w: text outside the root element", ErrMalformed)
			}
		}
	}
	if depth != 0 || roots != 1 {
		return fmt.Errorf("%w: want exactly one root element", ErrMalformed)
	}
	// RawToken does not match end tags to start tags or resolve
	// prefixes; a second, namespace-aware pass does.
	d = xml.NewDecoder(bytes.NewReader(data))
	for {
		if _, err := d.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, shortXMLErr(err))
		}
	}
}

// shortXMLErr keeps encoding/xml's message, which names a line and never
// quotes more than a tag name, and caps it.
func shortXMLErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// node is a parsed element: a generic tree for documents whose shape
// varies between servers (MEX). Its depth is bounded by checkXML.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []node     `xml:",any"`
	Text     string     `xml:",chardata"`
}

// parseTree checks data and parses it into a tree.
func parseTree(data []byte) (*node, error) {
	if err := checkXML(data); err != nil {
		return nil, err
	}
	var root node
	if err := xml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, shortXMLErr(err))
	}
	return &root, nil
}

// attr returns the value of the attribute with local name local (any
// namespace), or "".
func (n *node) attr(local string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// children returns the direct children with local name local.
func (n *node) children(local string) []*node {
	var out []*node
	for i := range n.Children {
		if n.Children[i].XMLName.Local == local {
			out = append(out, &n.Children[i])
		}
	}
	return out
}

// child returns the first direct child with local name local, or nil.
func (n *node) child(local string) *node {
	for i := range n.Children {
		if n.Children[i].XMLName.Local == local {
			return &n.Children[i]
		}
	}
	return nil
}

// find returns the first descendant (depth first) with local name local,
// or nil.
func (n *node) find(local string) *node {
	for i := range n.Children {
		c := &n.Children[i]
		if c.XMLName.Local == local {
			return c
		}
		if f := c.find(local); f != nil {
			return f
		}
	}
	return nil
}

// text returns the trimmed character data of n.
func (n *node) text() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Text)
}
