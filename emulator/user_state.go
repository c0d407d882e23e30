package emulator

import (
	"strings"
	"sync"
	"time"
)

// userState is the emulator's memory of user sign-ins in progress and
// done: device codes, pending sign-in pages, authorization codes and
// refresh tokens. Secrets (device codes, authorization codes, refresh
// tokens) are keyed by their hash, so the raw values live only in the
// responses that carried them. Expired entries are dropped as new ones are
// added. The zero value is ready; it is safe for concurrent use.
type userState struct {
	mu            sync.Mutex
	deviceCodes   map[string]*deviceCodeRec // by secretKey(device_code)
	userCodes     map[string]*deviceCodeRec // by upper-case user code
	scripts       []DeviceCodeScript        // for the next device codes, in order
	signIns       map[string]*signInRec     // by sign-in id (not a secret)
	authCodes     map[string]*authCodeRec   // by secretKey(code)
	refreshTokens map[string]*refreshRec    // by secretKey(refresh_token)
	// consents are users' consents given on sign-in pages, by
	// consentKey: the delegated permissions granted.
	consents map[string][]string
}

// init makes the maps; callers hold mu.
func (u *userState) init() {
	if u.deviceCodes != nil {
		return
	}
	u.deviceCodes = map[string]*deviceCodeRec{}
	u.userCodes = map[string]*deviceCodeRec{}
	u.signIns = map[string]*signInRec{}
	u.authCodes = map[string]*authCodeRec{}
	u.refreshTokens = map[string]*refreshRec{}
	u.consents = map[string][]string{}
}

// pruneLocked forgets what has expired well before now (a grace period
// keeps expired entries answerable with "expired" for a while). Callers
// hold mu.
func (u *userState) pruneLocked(now time.Time) {
	const grace = time.Hour
	cut := now.Add(-grace)
	for k, d := range u.deviceCodes {
		if d.expires.Before(cut) {
			delete(u.deviceCodes, k)
			delete(u.userCodes, strings.ToUpper(d.userCode))
		}
	}
	for k, s := range u.signIns {
		if s.expires.Before(cut) {
			delete(u.signIns, k)
		}
	}
	for k, c := range u.authCodes {
		if c.expires.Before(cut) {
			delete(u.authCodes, k)
		}
	}
	for k, r := range u.refreshTokens {
		if r.expires.Before(cut) {
			delete(u.refreshTokens, k)
		}
	}
}

// userAnyTenant finds a user by username in any tenant, for sign-ins at a
// multi-tenant alias ("organizations"). The first tenant in config order
// wins.
func (d *directory) userAnyTenant(username string) (*userRec, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, t := range d.tenants {
		if u, ok := t.users[strings.ToLower(username)]; ok {
			return u, true
		}
	}
	return nil, false
}

// firstUser returns the first configured user of t, or of any tenant if t
// is nil.
func (d *directory) firstUser(t *tenantRec) (*userRec, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	tenants := d.tenants
	if t != nil {
		tenants = []*tenantRec{t}
	}
	for _, tn := range tenants {
		var first *userRec
		for _, u := range tn.users {
			if first == nil || strings.ToLower(u.Username) < strings.ToLower(first.Username) {
				first = u
			}
		}
		if first != nil {
			return first, true
		}
	}
	return nil, false
}

// findUser looks username up in t, or in every tenant if t is nil.
func (s *Server) findUser(t *tenantRec, username string) (*userRec, bool) {
	if t != nil {
		return s.dir.user(t, username)
	}
	return s.dir.userAnyTenant(username)
}

// errMFARequired is Entra ID's answer when a sign-in did not satisfy
// multi-factor authentication.
func errMFARequired(resource string) *aadError {
	e := newError(400, "interaction_required", 50076,
		"Due to a configuration change made by your administrator, or because you moved to a new location, "+
			"you must use multi-factor authentication to access '%s'.", resource)
	e.subError = "basic_action"
	e.claims = `{"access_token":{"capolids":{"essential":true,"values":["00000000-0000-0000-0000-0000000000mf"]}}}`
	return e
}
