package emulator

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The device authorization grant (RFC 8628), as Entra ID serves it:
// POST /{tenant}/oauth2/v2.0/devicecode hands out a device code and a user
// code; the user enters the code on the verification page (/devicelogin,
// signin_page.go) and signs in; the client polls the token endpoint
// (grant_device_code.go) until then.

// Defaults of the device code grant, Entra ID's.
const (
	DefaultDeviceCodeInterval = 5 * time.Second
	DefaultDeviceCodeLifetime = 15 * time.Minute
)

// deviceCodeResponse is the body of a device authorization response.
type deviceCodeResponse struct {
	DeviceCode      string `json:"device_code"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int64  `json:"expires_in"`
	Interval        int64  `json:"interval"`
	Message         string `json:"message"`
}

// deviceCodeState is where a device code is in its life.
type deviceCodeState int

const (
	dcPending deviceCodeState = iota
	dcApproved
	dcDenied
	dcRedeemed
)

// deviceCodeRec is what the server remembers of a device code. Guarded by
// userState.mu.
type deviceCodeRec struct {
	userCode string
	clientID string
	tenant   *tenantRec // nil for a multi-tenant alias
	scopes   userScopes
	issued   time.Time
	expires  time.Time
	interval time.Duration
	slowDown int // polls still to answer with slow_down
	state    deviceCodeState
	user     *userRec
	authTime time.Time
	polls    []DeviceCodePoll
}

// DeviceCodeScript changes how the emulator treats the next device code it
// issues, so tests can exercise a client's polling. Zero fields mean the
// server's defaults.
type DeviceCodeScript struct {
	// Interval is the polling interval the code asks for, rounded up to
	// whole seconds; default Options.DeviceCodeInterval.
	Interval time.Duration
	// Lifetime is how long the code can be redeemed; default
	// Options.DeviceCodeLifetime.
	Lifetime time.Duration
	// SlowDown answers the first SlowDown polls with slow_down.
	SlowDown int
}

// DeviceCodePoll is one token request for a device code, as the emulator
// answered it.
type DeviceCodePoll struct {
	// At is when the request reached the grant (after any injected fault
	// or latency), by Options.Now.
	At time.Time
	// Answer is the OAuth error sent ("authorization_pending",
	// "slow_down", "expired_token", "authorization_declined",
	// "interaction_required", "invalid_grant") or "token".
	Answer string
}

// DeviceCodeInfo describes an issued device code.
type DeviceCodeInfo struct {
	UserCode string
	ClientID string
	Issued   time.Time
	Expires  time.Time
	Interval time.Duration
	// Polls are the token requests for the code, in order.
	Polls []DeviceCodePoll
	// Username is who approved the code, "" while pending.
	Username string
}

// ScriptDeviceCode queues sc for the next device code the server issues.
// Scripts are used in the order they were queued, one per device code.
func (s *Server) ScriptDeviceCode(sc DeviceCodeScript) {
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	s.users.scripts = append(s.users.scripts, sc)
}

// DeviceCode returns what the server knows of the device code with the
// given user code (case-insensitive).
func (s *Server) DeviceCode(userCode string) (DeviceCodeInfo, bool) {
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	d, ok := s.users.userCodes[strings.ToUpper(strings.TrimSpace(userCode))]
	if !ok {
		return DeviceCodeInfo{}, false
	}
	s.autoApproveLocked(d, s.now())
	info := DeviceCodeInfo{UserCode: d.userCode, ClientID: d.clientID, Issued: d.issued, Expires: d.expires,
		Interval: d.interval, Polls: append([]DeviceCodePoll(nil), d.polls...)}
	if d.user != nil {
		info.Username = d.user.Username
	}
	return info, true
}

// ApproveDeviceCode signs username in on the verification page for the
// device code with the given user code, as if they had entered the code
// and their password there. The next poll gets tokens, or, for a user
// that requires multi-factor authentication, interaction_required
// (AADSTS50076): the emulator's sign-in is password-only.
func (s *Server) ApproveDeviceCode(userCode, username string) error {
	if err := s.approveDeviceCode(userCode, username, "", true); err != nil {
		return fmt.Errorf("emulator: approve device code: %w", err)
	}
	return nil
}

// DenyDeviceCode declines the device code: the next poll gets
// authorization_declined.
func (s *Server) DenyDeviceCode(userCode string) error {
	return s.updateDeviceCode(userCode, func(d *deviceCodeRec) error {
		if d.state != dcPending {
			return errors.New("the code is no longer pending")
		}
		d.state = dcDenied
		return nil
	})
}

// ExpireDeviceCode makes the device code expire now: the next poll gets
// expired_token.
func (s *Server) ExpireDeviceCode(userCode string) error {
	now := s.now()
	return s.updateDeviceCode(userCode, func(d *deviceCodeRec) error {
		d.expires = now
		return nil
	})
}

// SlowDownDeviceCode answers the next n polls of the device code with
// slow_down.
func (s *Server) SlowDownDeviceCode(userCode string, n int) error {
	return s.updateDeviceCode(userCode, func(d *deviceCodeRec) error {
		d.slowDown += n
		return nil
	})
}

func (s *Server) updateDeviceCode(userCode string, f func(*deviceCodeRec) error) error {
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	d, ok := s.users.userCodes[strings.ToUpper(strings.TrimSpace(userCode))]
	if !ok {
		return fmt.Errorf("emulator: no device code with user code %q", userCode)
	}
	if err := f(d); err != nil {
		return fmt.Errorf("emulator: device code %s: %w", d.userCode, err)
	}
	return nil
}

// approveDeviceCode signs username in for the code: with their password
// (the verification page), or vouched for by the caller (the Go API, the
// auto sign-in user).
func (s *Server) approveDeviceCode(userCode, username, password string, vouched bool) error {
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	d, ok := s.users.userCodes[strings.ToUpper(strings.TrimSpace(userCode))]
	now := s.now()
	switch {
	case !ok:
		return errUnknownUserCode
	case !now.Before(d.expires):
		return errors.New("the code has expired; start again on your device")
	case d.state != dcPending:
		return errors.New("the code was already used")
	}
	u, ok := s.findUser(d.tenant, username)
	if !ok {
		return fmt.Errorf("no user %q in the tenant", username)
	}
	if !vouched && !passwordMatches(u, password) {
		return errBadPassword
	}
	d.state, d.user, d.authTime = dcApproved, u, now
	return nil
}

var (
	errUnknownUserCode = errors.New("the code is not valid; check it and try again")
	errBadPassword     = errors.New("AADSTS50126: Error validating credentials due to invalid username or password")
)

// autoApproveLocked approves a pending code once Options.AutoApproveAfter
// has passed since it was issued, as Options.AutoSignIn (else the first
// user of its tenant). Callers hold users.mu.
func (s *Server) autoApproveLocked(d *deviceCodeRec, now time.Time) {
	after := s.opts.AutoApproveAfter
	if after <= 0 || d.state != dcPending || now.Before(d.issued.Add(after)) || !now.Before(d.expires) {
		return
	}
	var u *userRec
	var ok bool
	if name := s.opts.AutoSignIn; name != "" {
		u, ok = s.findUser(d.tenant, name)
	} else {
		u, ok = s.dir.firstUser(d.tenant)
	}
	if ok {
		d.state, d.user, d.authTime = dcApproved, u, d.issued.Add(after)
	}
}

// handleDeviceCode serves POST /{tenant}/oauth2/v2.0/devicecode.
func (s *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	resp, aerr := s.deviceCode(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) deviceCode(r *http.Request) (*deviceCodeResponse, *aadError) {
	info := infoFrom(r.Context())
	seg := r.PathValue("tenant")
	t, ok := s.resolveTenant(seg)
	if !ok {
		return nil, errTenantNotFound("invalid_request", seg)
	}
	if strings.EqualFold(seg, "consumers") {
		return nil, newError(http.StatusBadRequest, "invalid_request", 9002331,
			"Application is configured for use by Microsoft Account users only, and this emulator has no Microsoft Accounts. Use a tenant or 'organizations'.")
	}
	if t != nil {
		info.tenant = t.id
	}
	if info.formErr != nil {
		return nil, errBadRequest("the request body is not a valid form.")
	}
	q := &tokenRequest{r: r, form: r.PostForm, grant: "device_code", tenantSeg: seg, tenant: t, host: s.publicHost(r)}
	c, aerr := s.authenticateClient(q)
	if aerr != nil {
		return nil, aerr
	}
	scopes, aerr := parseUserScopes(q.form.Get("scope"))
	if aerr != nil {
		return nil, aerr
	}
	if _, aerr := parseClaimsParam(q.form.Get("claims")); aerr != nil {
		return nil, aerr
	}
	now := s.now()
	d := &deviceCodeRec{clientID: c.app.ClientID, tenant: t, scopes: scopes, issued: now,
		interval: s.opts.DeviceCodeInterval, expires: now.Add(s.opts.DeviceCodeLifetime)}
	deviceCode := "dc." + randomToken(48)

	s.users.mu.Lock()
	s.users.init()
	s.users.pruneLocked(now)
	if len(s.users.scripts) > 0 {
		sc := s.users.scripts[0]
		s.users.scripts = s.users.scripts[1:]
		if sc.Interval > 0 {
			d.interval = sc.Interval
		}
		if sc.Lifetime > 0 {
			d.expires = now.Add(sc.Lifetime)
		}
		d.slowDown = sc.SlowDown
	}
	if rem := d.interval % time.Second; rem != 0 {
		d.interval += time.Second - rem
	}
	d.interval = max(d.interval, time.Second)
	for {
		d.userCode = newUserCode()
		if _, dup := s.users.userCodes[d.userCode]; !dup {
			break
		}
	}
	s.users.deviceCodes[secretKey(deviceCode)] = d
	s.users.userCodes[d.userCode] = d
	s.users.mu.Unlock()

	verify := "https://" + q.host + "/devicelogin"
	return &deviceCodeResponse{
		DeviceCode:      deviceCode,
		UserCode:        d.userCode,
		VerificationURI: verify,
		ExpiresIn:       int64(d.expires.Sub(now).Round(time.Second).Seconds()),
		Interval:        int64(d.interval.Seconds()),
		Message: fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.",
			verify, d.userCode),
	}, nil
}

// userCodeAlphabet has no vowels (no words) and no look-alikes (0/O, 1/I).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ23456789"

// newUserCode returns a 9-character user code like Entra ID's.
func newUserCode() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = userCodeAlphabet[int(b[i])%len(userCodeAlphabet)]
	}
	return string(b)
}
