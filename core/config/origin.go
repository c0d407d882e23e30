package config

import (
	"strconv"
	"strings"
)

// Origin says where a value came from: a position in a config file, an
// environment variable, or a command-line flag. The zero Origin means "not
// set" (a built-in default applies).
type Origin struct {
	// File is the config file's path as given to Load or Parse.
	File string
	// Line and Col are 1-based; Col counts bytes, like go-toml's errors.
	Line, Col int
	// Env names the environment variable that set the value. When two
	// variables built it (AZURE_AUTHORITY_HOST and AZURE_TENANT_ID both
	// rewrite the authority), they are listed comma-separated.
	Env string
	// Flag names the command-line flag that set the value ("--profile").
	Flag string
}

// String returns "file:line:col", "env NAME", "flag --name", or "" for
// the zero Origin.
func (o Origin) String() string {
	switch {
	case o.Env != "":
		return "env " + o.Env
	case o.Flag != "":
		return "flag " + o.Flag
	case o.File == "" && o.Line == 0:
		return ""
	case o.Line == 0:
		return o.File
	}
	return o.File + ":" + strconv.Itoa(o.Line) + ":" + strconv.Itoa(o.Col)
}

// IsZero reports whether o is the zero Origin, i.e. the value was not set
// by any file, variable or flag.
func (o Origin) IsZero() bool { return o == Origin{} }

// Value is one setting and where it came from.
//
// Raw holds a string as written (after TOML unescaping); booleans and
// integers in flow sections are formatted ("true", "42"). An array of
// strings is held in List, which is then non-nil (empty for "[]") while Raw
// is empty. Raw may be an inline secret: print a Value only where secrets
// may appear.
type Value struct {
	Raw    string
	List   []string
	Origin Origin
}

// IsSet reports whether the value was set by a file or a variable.
func (v Value) IsSet() bool { return !v.Origin.IsZero() }

// IsList reports whether the value is an array of strings.
func (v Value) IsList() bool { return v.List != nil }

// dotted joins key parts into a dotted TOML key, quoting the parts that
// are not bare keys: profiles.ci."odd key".
func dotted(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		if isBareKey(p) {
			b.WriteString(p)
		} else {
			b.WriteString(strconv.Quote(p))
		}
	}
	return b.String()
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
