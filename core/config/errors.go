package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem with the configuration, placed where the user can
// fix it. Its text never contains a secret.
type Error struct {
	// Origin is where the offending value (or, for a missing key, the
	// enclosing table) is.
	Origin Origin
	// Key is the dotted key, e.g. profiles.ci.client_id; empty for
	// problems that belong to no key (a syntax error between keys).
	Key string
	// Msg says what is wrong and what to do about it.
	Msg string
	// Err is the underlying error, if any (a *toml.DecodeError, an
	// *fs.PathError); Msg already describes it.
	Err error
}

// Error returns "file:line:col: key: msg", leaving out the parts that are
// empty.
func (e *Error) Error() string {
	var b strings.Builder
	if o := e.Origin.String(); o != "" {
		b.WriteString(o)
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found, sorted by file, line and column. Parse,
// Load, Validate and ApplyEnv return it (never empty) instead of stopping
// at the first problem; errors.As finds each *Error in it.
type Errors []*Error

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Concern reports whether any of the problems is in the named profile's
// settings or in [defaults], which every profile inherits: whether the
// profile, as a partial load (LoadOptions.Partial) left it, may be
// missing a value.
func (es Errors) Concern(profile string) bool {
	table := dotted("profiles", profile)
	for _, e := range es {
		for _, t := range []string{table, "defaults"} {
			if e.Key == t || strings.HasPrefix(e.Key, t+".") {
				return true
			}
		}
	}
	return false
}

// ErrNoProfile is wrapped by File.Profile when no profile has the name.
var ErrNoProfile = errors.New("no such profile")

// problems collects errors while reading or checking a configuration.
type problems struct{ list Errors }

func (p *problems) add(o Origin, key, format string, args ...any) {
	p.list = append(p.list, &Error{Origin: o, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems sorted by position (env origins last), or nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	slices.SortStableFunc(p.list, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Origin.Env, b.Origin.Env),
			cmp.Compare(a.Origin.File, b.Origin.File),
			cmp.Compare(a.Origin.Line, b.Origin.Line),
			cmp.Compare(a.Origin.Col, b.Origin.Col),
		)
	})
	return p.list
}

// suggest returns the candidate closest to key within edit distance 2
// (comparing case-insensitively), or "". A key so short that the edits
// would replace all of it gets no suggestion.
func suggest(key string, candidates []string) string {
	best, bestDist := "", min(3, len(key))
	k := strings.ToLower(key)
	for _, c := range candidates {
		if d := editDistance(k, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean returns ` (did you mean "x"?)` for the closest candidate, or "".
func didYouMean(key string, candidates []string) string {
	if s := suggest(key, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes. It
// gives up early (returning 3) on strings whose lengths differ by more,
// since only distances up to 2 matter.
func editDistance(a, b string) int {
	if d := len(a) - len(b); d > 2 || d < -2 {
		return 3
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Interface guards.
var (
	_ error = (*Error)(nil)
	_ error = Errors(nil)
)
