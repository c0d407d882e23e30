package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
)

// accountsCmd lists who is signed in, per profile and flow, and the access
// tokens cached for them. It never prints a token.
type accountsCmd struct {
	output string
}

func (c *accountsCmd) flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.output, "output", "o", "table", "output: table or json")
}

func (c *accountsCmd) validate(*globals) error { return validateListOutput(c.output) }

// accountJSON is one line of `accounts --output json`.
type accountJSON struct {
	Profile    string    `json:"profile"`
	Flow       string    `json:"flow"`
	Username   string    `json:"username,omitempty"`
	HomeID     string    `json:"home_account_id,omitempty"`
	TenantID   string    `json:"tenant_id,omitempty"`
	CanRefresh bool      `json:"can_refresh"`
	Tokens     int       `json:"cached_tokens"`
	ExpiresOn  time.Time `json:"next_expiry,omitzero"`
}

func (c *accountsCmd) run(ctx context.Context, g *globals, e *env, _ []string) error {
	s, err := openStoreSession(ctx, g, e, false)
	if err != nil {
		return err
	}
	defer s.Close()
	signIns, err := s.Host.SignIns(ctx, s.Profile)
	if err != nil {
		return err
	}
	tokens, err := s.Host.Tokens(ctx, s.Profile)
	if err != nil {
		return err
	}
	var rows []accountJSON
	for _, si := range signIns {
		for _, a := range si.Accounts {
			rows = append(rows, accountJSON{Profile: si.Profile, Flow: si.Flow, Username: a.Username, HomeID: a.HomeAccountID, TenantID: a.TenantID, CanRefresh: si.CanRefresh})
		}
	}
	// Cached tokens count towards their account's row; app-only tokens
	// (client credentials) get a row of their own per profile and flow.
	for _, t := range tokens {
		i := -1
		for j, r := range rows {
			if r.Profile == t.Profile && r.Flow == t.Flow && r.HomeID == t.Account.HomeAccountID {
				i = j
			}
		}
		if i < 0 {
			rows = append(rows, accountJSON{Profile: t.Profile, Flow: t.Flow, Username: t.Account.Username, HomeID: t.Account.HomeAccountID, TenantID: t.Account.TenantID})
			i = len(rows) - 1
		}
		rows[i].Tokens++
		if rows[i].ExpiresOn.IsZero() || t.ExpiresOn.Before(rows[i].ExpiresOn) {
			rows[i].ExpiresOn = t.ExpiresOn.UTC()
		}
	}
	if c.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []accountJSON{}
		}
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(e.stderr, "nobody is signed in and no token is cached ("+s.Store.Location+")")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tFLOW\tACCOUNT\tSILENT REFRESH\tCACHED TOKENS\tNEXT EXPIRY")
	for _, r := range rows {
		who := r.Username
		if who == "" {
			who = "(app)"
		}
		refresh := "no"
		if r.CanRefresh {
			refresh = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.Profile, r.Flow, who, refresh, r.Tokens, expiry(r.ExpiresOn))
	}
	return tw.Flush()
}

// expiry says when a token expires, relative to now.
func expiry(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Until(t).Round(time.Second)
	if d <= 0 {
		return "expired"
	}
	return "in " + shortDuration(d)
}

// shortDuration drops zero trailing units: 58m10s, 58m, 1h, 1h5m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func validateListOutput(o string) error {
	if o != "table" && o != "json" {
		return usageError{fmt.Errorf("--output %q: use table or json", o)}
	}
	return nil
}
