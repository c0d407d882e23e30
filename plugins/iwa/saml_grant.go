package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/credhost/credhost/internal/federation"
)

// Redeeming the SAML assertion.
//
// MSAL Go posts SAML bearer grants only inside its username/password flow,
// which this flow cannot use (it has no password). Posting the grant
// ourselves would work, but then the tokens would have to be written into
// MSAL's cache format by hand so that later silent calls find the account
// and its refresh token; that format is MSAL's private business.
//
// Instead the flow lets MSAL redeem an authorization code, which it does
// with a public API and then caches exactly as for any sign-in, and
// rewrites that one request on its way out: samlGrantTransport turns the
// authorization_code grant into the SAML bearer grant (grant_type and
// assertion instead of code, code_verifier and redirect_uri; client_id,
// scope, client_info and claims stay as MSAL wrote them). The assertion
// travels in the request's context, so concurrent calls never mix, and a
// request is rewritten only if its context asks for it. If MSAL ever
// sends something else under that context, the transport refuses rather
// than sending a placeholder code.

// samlCodePlaceholder is the "authorization code" MSAL is given; it never
// leaves the process.
const samlCodePlaceholder = "credhost-iwa-saml-grant"

// samlRedirectURI is the redirect_uri MSAL is given for the same call;
// the transport removes it.
const samlRedirectURI = "http://localhost"

type samlKey struct{}

// samlGrant is an assertion waiting to be posted once.
type samlGrant struct {
	grantType string
	assertion string // base64
	mu        sync.Mutex
	used      bool
}

// withSAMLGrant returns ctx under which the next authorization code
// request is rewritten into a's bearer grant.
func withSAMLGrant(ctx context.Context, a federation.Assertion) context.Context {
	return context.WithValue(ctx, samlKey{}, &samlGrant{grantType: a.GrantType(), assertion: a.Base64().Reveal()})
}

// samlGrantTransport rewrites MSAL's authorization code request into a
// SAML bearer grant when the request's context carries one. Every other
// request passes through unchanged.
type samlGrantTransport struct{ base http.RoundTripper }

var errNotACodeRequest = errors.New("iwa: internal error: the request carrying the SAML assertion is not a token request")

func (t *samlGrantTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	g, ok := req.Context().Value(samlKey{}).(*samlGrant)
	if !ok || req.Method != http.MethodPost || req.Body == nil {
		return t.base.RoundTrip(req)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("grant_type") != "authorization_code" || form.Get("code") != samlCodePlaceholder {
		return nil, errNotACodeRequest
	}
	g.mu.Lock()
	used := g.used
	g.used = true
	g.mu.Unlock()
	if used {
		return nil, errNotACodeRequest
	}
	form.Del("code")
	form.Del("code_verifier")
	form.Del("redirect_uri")
	form.Set("grant_type", g.grantType)
	form.Set("assertion", g.assertion)
	enc := form.Encode()
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader([]byte(enc)))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte(enc))), nil }
	out.ContentLength = int64(len(enc))
	out.Header.Set("Content-Length", strconv.Itoa(len(enc)))
	return t.base.RoundTrip(out)
}

var _ http.RoundTripper = (*samlGrantTransport)(nil)
