package emulator

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// UserTokenScope is the "scp" of the tokens IssueUserToken mints: the
// delegated permission web APIs conventionally expose.
const UserTokenScope = "access_as_user"

// IssueUserToken mints an access token for username of tenant (GUID or
// domain) with the given audience, as if the user had signed in to the
// public client DefaultPublicClientID and asked for a web API's
// UserTokenScope: the incoming token (assertion) of on-behalf-of tests.
// The audience is a resource (client id or identifier URI) that must
// exist in the tenant, and the token has its version. A
// lifetime of 0 means Options.TokenLifetime; a negative one yields an
// already expired token. No sign-in happens, so MFA is not checked here;
// grants that receive the token still check it. The server must be
// started. Safe for concurrent use.
func (s *Server) IssueUserToken(tenant, username, audience string, lifetime time.Duration) (string, error) {
	base := s.URL()
	if base == "" {
		return "", errors.New("emulator: issue user token: server not started")
	}
	t, ok := s.dir.tenant(tenant)
	if !ok {
		return "", fmt.Errorf("emulator: issue user token: tenant %q not found", tenant)
	}
	u, ok := s.dir.user(t, username)
	if !ok {
		return "", fmt.Errorf("emulator: issue user token: user %q not found in tenant %s", username, t.id)
	}
	if strings.TrimSpace(audience) == "" {
		return "", errors.New("emulator: issue user token: empty audience")
	}
	if lifetime == 0 {
		lifetime = s.opts.TokenLifetime
	}
	res, aerr := s.resolveResource(t, audience)
	if aerr != nil {
		return "", fmt.Errorf("emulator: issue user token: %w", aerr)
	}
	now := s.now()
	if lifetime < 0 {
		// Already expired: shift the clock the token is minted with.
		now = now.Add(lifetime - time.Hour)
		lifetime = time.Hour
	}
	tok, err := s.mintAccessTokenAt(now, lifetime, accessToken{
		host: base[len("https://"):], tenantID: t.id, res: res,
		clientID: DefaultPublicClientID, azpacr: "0", appOID: stableGUID("app", t.id, strings.ToLower(DefaultPublicClientID)),
		user: u, scp: UserTokenScope,
	})
	if err != nil {
		return "", fmt.Errorf("emulator: issue user token: %w", err)
	}
	return tok, nil
}
