package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// grantFunc serves one grant type at the token endpoint. It returns the
// response to send, or the error to answer with. It runs concurrently with
// itself.
type grantFunc func(s *Server, q *tokenRequest) (*tokenResponse, *aadError)

// grant is a registered grant type.
type grant struct {
	name   string // canonical grant_type, used in counters ("token:<name>")
	handle grantFunc
}

// grants maps every accepted grant_type value (aliases included) to its
// grant. Each grant_*.go file registers itself in init; the map is
// read-only afterwards.
var grants = map[string]grant{}

// registerGrant adds a grant type, accepted under name and any aliases
// (e.g. "device_code" and "urn:ietf:params:oauth:grant-type:device_code").
// It panics on a duplicate, which is a programming error.
func registerGrant(name string, h grantFunc, aliases ...string) {
	g := grant{name: name, handle: h}
	for _, k := range append([]string{name}, aliases...) {
		if _, dup := grants[k]; dup {
			panic("emulator: grant type registered twice: " + k)
		}
		grants[k] = g
	}
}

// tokenRequest is a parsed token endpoint request, handed to a grantFunc.
type tokenRequest struct {
	r    *http.Request
	form url.Values // the POST body only; query parameters are ignored
	// grant is the canonical grant type.
	grant string
	// tenantSeg is the tenant segment of the URL, as sent.
	tenantSeg string
	// tenant is the resolved tenant; nil for "common", "organizations"
	// and "consumers".
	tenant *tenantRec
	// host is the public host the client used.
	host string
}

// tokenResponse is the success body of the token endpoint. Grants fill in
// what applies; empty fields are omitted.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	RefreshIn    int64  `json:"refresh_in,omitempty"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
	FamilyID     string `json:"foci,omitempty"`
}

// handleToken serves POST /{tenant}/oauth2/v2.0/token: it parses the form
// and dispatches on grant_type.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	resp, aerr := s.token(r)
	if aerr != nil {
		s.writeError(w, r, aerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) token(r *http.Request) (*tokenResponse, *aadError) {
	info := infoFrom(r.Context())
	seg := r.PathValue("tenant")
	t, ok := s.resolveTenant(seg)
	if !ok {
		return nil, errTenantNotFound("invalid_request", seg)
	}
	if t != nil {
		info.tenant = t.id
	}
	if err := info.formErr; err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			e := errBadRequest(fmt.Sprintf("the request body is larger than %d bytes.", maxBodySize))
			e.status = http.StatusRequestEntityTooLarge
			return nil, e
		}
		return nil, errBadRequest("the request body is not a valid form.")
	}
	gt := r.PostForm.Get("grant_type")
	if gt == "" {
		return nil, errMissingParameter("grant_type")
	}
	g, ok := grants[gt]
	if !ok {
		return nil, errUnsupportedGrant(gt)
	}
	info.grant = g.name
	if _, aerr := parseClaimsParam(r.PostForm.Get("claims")); aerr != nil {
		return nil, aerr
	}
	return g.handle(s, &tokenRequest{
		r:         r,
		form:      r.PostForm,
		grant:     g.name,
		tenantSeg: seg,
		tenant:    t,
		host:      s.publicHost(r),
	})
}

// tokenCounterKeys names the per-grant counter of a token request, if its
// grant type is supported.
func (s *Server) tokenCounterKeys(r *http.Request) []string {
	if g, ok := grants[r.PostForm.Get("grant_type")]; ok {
		return []string{"token:" + g.name}
	}
	return nil
}
