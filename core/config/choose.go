package config

import (
	"fmt"
	"slices"
	"strings"
)

// Choice is the profile File.Choose picked and why.
type Choice struct {
	// Name is the profile's name.
	Name string
	// Reason says why it was picked, for people: `named by --profile`,
	// `named by CREDHOST_PROFILE`, `its match rules hold (at f:3:1): env
	// CI = "true"`, `the only profile`, `named "default"`.
	Reason string
	// Origin is where the choice came from: flag --profile, env
	// CREDHOST_PROFILE, or the position of the match table; zero for the
	// fallbacks.
	Origin Origin
	// Rules are the match rules that chose the profile (they all hold);
	// nil when the profile was not chosen by its rules.
	Rules []Rule
}

// Choose picks the profile to use:
//
//  1. name, if not empty (the --profile flag, or an embedder's choice);
//  2. else $CREDHOST_PROFILE;
//  3. else the first profile, in layer then file order, that has match
//     rules and whose rules all hold in env;
//  4. else, among the profiles without match rules, the only one, else
//     the one named "default".
//
// A profile with match rules is picked automatically only when they
// hold: it was written for some machines, not for all. The error when
// nothing is picked lists, for each profile with rules, the first rule
// that does not hold. A picked profile that the policy refuses gives the
// refusal (wrapping ErrPolicy), not the next candidate, so that policy
// never silently changes which app signs in.
func (f *File) Choose(name string, env Environment) (Choice, error) {
	c := Choice{Name: name, Reason: "named by --profile", Origin: Origin{Flag: "--profile"}}
	if name == "" {
		c = Choice{Name: env.Getenv.get(EnvProfile), Reason: "named by " + EnvProfile, Origin: Origin{Env: EnvProfile}}
	}
	if c.Name != "" {
		if _, err := f.Profile(c.Name); err != nil {
			return Choice{}, err
		}
		return c, nil
	}

	var tried, plain []string
	for _, n := range f.Order {
		p := f.Profiles[n]
		if p == nil || p.Match == nil {
			plain = append(plain, n)
			continue
		}
		ok, failed, why := p.Match.Holds(env)
		if !ok {
			tried = append(tried, fmt.Sprintf("%s: %s (rule at %s)", n, why, failed.Origin))
			continue
		}
		rules := make([]string, len(p.Match.Rules))
		for i, r := range p.Match.Rules {
			rules[i] = r.String()
		}
		c = Choice{Name: n, Origin: p.Match.Origin, Rules: p.Match.Rules,
			Reason: fmt.Sprintf("its match rules hold (at %s): %s", p.Match.Origin, strings.Join(rules, "; "))}
		if _, err := f.Profile(n); err != nil {
			return Choice{}, err
		}
		return c, nil
	}

	switch {
	case len(plain) == 1:
		c = Choice{Name: plain[0], Reason: "the only profile"}
		if len(f.Order) > 1 {
			c.Reason = "the only profile without match rules"
		}
	case slices.Contains(plain, "default"):
		c = Choice{Name: "default", Reason: `named "default"`}
	case len(f.Order) == 0:
		where := f.Path
		if where == "" {
			where = "the configuration"
		}
		return Choice{}, fmt.Errorf("%s defines no profiles: add a [profiles.<name>] table", where)
	default:
		msg := fmt.Sprintf("several profiles (%s): choose one with --profile or %s", strings.Join(f.Order, ", "), EnvProfile)
		if len(plain) == 0 {
			msg = "no profile's match rules hold: choose one with --profile or " + EnvProfile
		}
		if len(tried) > 0 {
			msg += "; match rules that do not hold: " + strings.Join(tried, "; ")
		}
		return Choice{}, fmt.Errorf("%s", msg)
	}
	if _, err := f.Profile(c.Name); err != nil {
		return Choice{}, err
	}
	return c, nil
}
