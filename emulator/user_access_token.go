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
// UserTokenScope: the incoming token (assertion) of on-behalf-of tests. A
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
	now := s.now()
	exp := now.Add(lifetime)
	iat := now
	if exp.Before(iat) {
		iat = exp.Add(-time.Hour)
	}
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	tok, err := s.signToken(map[string]any{
		"aud":                audience,
		"iss":                issuerURL(base[len("https://"):], t.id),
		"iat":                iat.Unix(),
		"nbf":                iat.Unix(),
		"exp":                exp.Unix(),
		"auth_time":          iat.Unix(),
		"tid":                t.id,
		"oid":                u.ObjectID,
		"sub":                stableGUID("sub", u.ObjectID, strings.ToLower(DefaultPublicClientID)),
		"upn":                u.Username,
		"preferred_username": u.Username,
		"name":               name,
		"appid":              DefaultPublicClientID,
		"azp":                DefaultPublicClientID,
		"azpacr":             "0",
		"scp":                UserTokenScope,
		"amr":                []string{"pwd"},
		"idtyp":              "user",
		"ver":                "2.0",
		"uti":                newUTI(),
	})
	if err != nil {
		return "", fmt.Errorf("emulator: issue user token: %w", err)
	}
	return tok, nil
}
