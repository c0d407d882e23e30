package emulator

import (
	"net/http"
	"strings"
)

func init() {
	// MSAL Go sends "device_code"; RFC 8628 names the grant with a URN.
	// Entra ID accepts both.
	registerGrant("device_code", (*Server).grantDeviceCode, "urn:ietf:params:oauth:grant-type:device_code")
}

// grantDeviceCode serves a poll of the device authorization grant. Each
// poll is recorded (DeviceCode(userCode).Polls) with its answer:
// slow_down while a script says so, authorization_pending until the code
// is approved, then tokens once; expired_token after the code's lifetime;
// authorization_declined if it was denied; interaction_required
// (AADSTS50076) if the user who approved needs multi-factor
// authentication, which the emulator's password-only sign-in cannot give.
func (s *Server) grantDeviceCode(q *tokenRequest) (*tokenResponse, *aadError) {
	c, aerr := s.authenticateClient(q)
	if aerr != nil {
		return nil, aerr
	}
	code := q.form.Get("device_code")
	if code == "" {
		return nil, errMissingParameter("device_code")
	}
	now := s.now()
	s.users.mu.Lock()
	d, ok := s.users.deviceCodes[secretKey(code)]
	if !ok || !strings.EqualFold(d.clientID, c.app.ClientID) {
		s.users.mu.Unlock()
		return nil, newError(http.StatusBadRequest, "invalid_grant", 70000,
			"The provided value for the input parameter 'device_code' is not valid.")
	}
	s.autoApproveLocked(d, now)
	answer := "token"
	switch {
	case d.state == dcRedeemed:
		answer = "invalid_grant"
	case !now.Before(d.expires):
		answer = "expired_token"
	case d.slowDown > 0:
		d.slowDown--
		answer = "slow_down"
	case d.state == dcPending:
		answer = "authorization_pending"
	case d.state == dcDenied:
		answer = "authorization_declined"
	case d.user.MFA:
		answer = "interaction_required"
	default:
		d.state = dcRedeemed
	}
	d.polls = append(d.polls, DeviceCodePoll{At: now, Answer: answer})
	g := userGrant{client: c, user: d.user, scopes: d.scopes, authTime: d.authTime, interactive: true}
	s.users.mu.Unlock()

	switch answer {
	case "invalid_grant":
		return nil, newError(http.StatusBadRequest, "invalid_grant", 70000, "The provided device code was already redeemed.")
	case "expired_token":
		return nil, newError(http.StatusBadRequest, "expired_token", 70020,
			"The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
	case "slow_down":
		return nil, newError(http.StatusBadRequest, "slow_down", 70016,
			"OAuth 2.0 device flow error. The client is polling too often; add 5 seconds to the interval.")
	case "authorization_pending":
		return nil, newError(http.StatusBadRequest, "authorization_pending", 70016,
			"OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	case "authorization_declined":
		return nil, newError(http.StatusBadRequest, "authorization_declined", 70000,
			"The end user declined the authorization request.")
	case "interaction_required":
		return nil, errMFARequired(d.scopes.resource)
	}
	infoFrom(q.r.Context()).tenant = g.user.tenantID
	return s.issueUserTokens(q, g)
}
