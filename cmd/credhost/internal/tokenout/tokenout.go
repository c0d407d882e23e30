// Package tokenout prints a token the way `credhost token --output`
// asks: raw, json, claims, a kubectl ExecCredential, or the JSON of
// `az account get-access-token`. Both the credhost
// CLI and its fast path (cmd/credhost/fast) use it, so a cached token
// prints exactly as a fresh one.
package tokenout

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/sdk/jwtpeek"
)

// ExecCredentialVersion is the client.authentication.k8s.io version
// answered when kubectl does not say which one it wants.
const ExecCredentialVersion = "client.authentication.k8s.io/v1"

// Formats are the --output values.
var Formats = []string{"raw", "json", "exec-credential", "claims", "az"}

// Write prints tok in format. execInfo is $KUBERNETES_EXEC_INFO, whose
// apiVersion the exec-credential output answers in.
func Write(w io.Writer, tok core.Token, format, execInfo string) error {
	if format == "exec-credential" {
		return writeExecCredential(w, tok, execInfo)
	}
	return writeToken(w, tok, format)
}

// tokenJSON is the --output json shape: stable field names for scripts.
type tokenJSON struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresOn   time.Time `json:"expires_on"`
	Account     *account  `json:"account,omitempty"`
	Flow        string    `json:"flow"`
}

type account struct {
	HomeAccountID string `json:"home_account_id,omitempty"`
	Username      string `json:"username,omitempty"`
	TenantID      string `json:"tenant_id,omitempty"`
}

func writeToken(w io.Writer, tok core.Token, output string) error {
	switch output {
	case "json":
		out := tokenJSON{AccessToken: tok.AccessToken.Reveal(), TokenType: tok.TokenType, ExpiresOn: tok.ExpiresOn.UTC(), Flow: tok.Flow}
		if a := tok.Account; a != (core.Account{}) {
			out.Account = &account{HomeAccountID: a.HomeAccountID, Username: a.Username, TenantID: a.TenantID}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "az":
		return writeAz(w, tok)
	case "claims":
		claims, err := decodeClaims(tok.AccessToken.Reveal())
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", claims)
		return err
	default:
		_, err := fmt.Fprintln(w, tok.AccessToken.Reveal())
		return err
	}
}

// decodeClaims pretty-prints a JWT's payload. The signature is not checked:
// this is for people looking at what they got.
func decodeClaims(jwt string) ([]byte, error) {
	var claims map[string]any
	if err := jwtpeek.Claims(jwt, &claims); err != nil {
		return nil, fmt.Errorf("the access token has no claims to show (opaque tokens have none): %w", err)
	}
	return json.MarshalIndent(claims, "", "  ")
}

// writeExecCredential prints tok as the ExecCredential kubectl expects,
// in the API version kubectl asked for (v1 or v1beta1; the status fields
// are the same). kubectl caches it until expirationTimestamp.
func writeExecCredential(w io.Writer, tok core.Token, execInfo string) error {
	version := ExecCredentialVersion
	var info struct {
		APIVersion string `json:"apiVersion"`
	}
	if json.Unmarshal([]byte(execInfo), &info) == nil && info.APIVersion != "" {
		version = info.APIVersion
	}
	out := struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Status     struct {
			ExpirationTimestamp string `json:"expirationTimestamp"`
			Token               string `json:"token"`
		} `json:"status"`
	}{Kind: "ExecCredential", APIVersion: version}
	out.Status.ExpirationTimestamp = tok.ExpiresOn.UTC().Format(time.RFC3339)
	out.Status.Token = tok.AccessToken.Reveal()
	return json.NewEncoder(w).Encode(out)
}

// azJSON is the shape of `az account get-access-token` (Azure CLI 2.x),
// for scripts written against it: expiresOn in local time with
// microseconds, expires_on in epoch seconds. There is no subscription
// here, so that field is left out.
type azJSON struct {
	AccessToken string `json:"accessToken"`
	ExpiresOn   string `json:"expiresOn"`
	ExpiresOnTS int64  `json:"expires_on"`
	Tenant      string `json:"tenant"`
	TokenType   string `json:"tokenType"`
}

func writeAz(w io.Writer, tok core.Token) error {
	typ := tok.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	out := azJSON{AccessToken: tok.AccessToken.Reveal(), ExpiresOn: tok.ExpiresOn.Local().Format("2006-01-02 15:04:05.000000"),
		ExpiresOnTS: tok.ExpiresOn.Unix(), Tenant: tok.Account.TenantID, TokenType: typ}
	if out.Tenant == "" {
		// An app token has no account: the token's own tenant claim.
		if claims, err := decodeClaims(out.AccessToken); err == nil {
			var c struct {
				TID string `json:"tid"`
			}
			if json.Unmarshal(claims, &c) == nil {
				out.Tenant = c.TID
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
