// Command webapp is an example web API that calls another API for its
// caller: GET /me with "Authorization: Bearer <the caller's token>"
// exchanges that token through credhost's on-behalf-of flow (a profile
// whose chain is ["obo"]) for a token to the downstream API, calls it, and
// returns its answer. When Entra ID wants the user to step up, it answers
// 401 with the claims challenge in WWW-Authenticate.
//
//	webapp -profile webapi -downstream https://graph.microsoft.com/v1.0/me \
//	       -scope https://graph.microsoft.com/User.Read
//
// With -signin-profile it is also a web app that signs users in: GET
// /login sends the browser to Entra ID; GET /callback redeems the code
// through a credhost profile whose chain is ["authcode"] with mode =
// "webapp" (the user's tokens go to credhost's cache); GET /hello then
// gets a token for the API silently for that user and calls the API's
// GET /me with it. The cookie key comes from $WEBAPP_COOKIE_KEY (base64,
// 32 bytes or more, the same on every instance).
//
//	webapp ... -signin-profile web -authority https://login.microsoftonline.com/<tenant> \
//	       -client-id <web app id> -redirect http://127.0.0.1:8080/callback \
//	       -api-scope api://<API app id>/access_as_user
//
// The profile comes from the credhost config file ($CREDHOST_CONFIG); for
// a web farm give it [cache] backend = "redis", so that every instance
// exchanges a caller's token once. A real API must validate the incoming
// token (issuer, audience, expiry, signature) before acting on it; this
// example leaves that to the IdP, which refuses tokens not issued for the
// API.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/webapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	profile := fs.String("profile", "webapi", "credhost profile (chain [\"obo\"])")
	downstream := fs.String("downstream", "", "URL of the downstream API to call for the caller (required)")
	scope := fs.String("scope", "", "space-separated scopes of the downstream API (required)")
	signInProfile := fs.String("signin-profile", "", "credhost profile of the web app (chain [\"authcode\"], mode = \"webapp\"); serves /login, /callback and /hello")
	authority := fs.String("authority", "", "the web app's authority, as in its profile (with -signin-profile)")
	clientID := fs.String("client-id", "", "the web app's client id, as in its profile (with -signin-profile)")
	redirect := fs.String("redirect", "", "the web app's redirect URI, registered on the app (default http://<addr>/callback)")
	apiScope := fs.String("api-scope", "", "space-separated scopes of this API, for /hello (with -signin-profile)")
	apiURL := fs.String("api-url", "", "URL of the API's GET /me that /hello calls (default http://<addr>/me)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *downstream == "" || *scope == "" {
		fmt.Fprintln(stderr, "webapp: -downstream and -scope are required")
		return 2
	}
	var cookieKey []byte
	if *signInProfile != "" {
		var err error
		cookieKey, err = base64.StdEncoding.DecodeString(getenv("WEBAPP_COOKIE_KEY"))
		if err != nil || len(cookieKey) < 32 {
			fmt.Fprintf(stderr, "webapp: %v\n", errNoCookieKey)
			return 2
		}
		if *authority == "" || *clientID == "" || *apiScope == "" {
			fmt.Fprintln(stderr, "webapp: -signin-profile needs -authority, -client-id and -api-scope")
			return 2
		}
		if *redirect == "" {
			*redirect = "http://" + *addr + "/callback"
		}
		if *apiURL == "" {
			*apiURL = "http://" + *addr + "/me"
		}
	}
	log := zerolog.New(stderr).With().Timestamp().Logger()
	cred, err := client.Open(ctx, *profile, &client.Options{Log: log})
	if err != nil {
		fmt.Fprintf(stderr, "webapp: %v\n", err)
		return 1
	}
	defer cred.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /me", newHandler(webapp.NewAPI(cred), *downstream, strings.Fields(*scope), http.DefaultClient, log))
	if *signInProfile != "" {
		web, err := client.Open(ctx, *signInProfile, &client.Options{Log: log})
		if err != nil {
			fmt.Fprintf(stderr, "webapp: %v\n", err)
			return 1
		}
		defer web.Close()
		if err := addWebApp(mux, webAppConfig{Authority: *authority, ClientID: *clientID, RedirectURI: *redirect, CookieKey: cookieKey,
			Cred: web, APIURL: *apiURL, APIScopes: strings.Fields(*apiScope), HTTP: http.DefaultClient, Log: log}); err != nil {
			fmt.Fprintf(stderr, "webapp: %v\n", err)
			return 2
		}
	}
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info().Str("addr", *addr).Msg("listening")
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "webapp: %v\n", err)
		return 1
	}
	return 0
}

// maxDownstreamBody bounds what the example relays from the downstream API.
const maxDownstreamBody = 1 << 20

// newHandler serves GET /me: on-behalf-of the caller, call downstream with
// hc, relay its status, content type and body.
func newHandler(api *webapp.API, downstream string, scopes []string, hc *http.Client, log zerolog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		tok, err := api.OnBehalfOf(r, scopes...)
		if err != nil {
			// The error text never holds a token; the kind and AADSTS
			// code say what happened.
			log.Info().Str("kind", sdk.KindOf(err).String()).Err(err).Msg("no downstream token")
			webapp.WriteError(w, err, nil)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, downstream, nil)
		if err != nil {
			http.Error(w, "bad downstream URL", http.StatusInternalServerError)
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken.Reveal())
		resp, err := hc.Do(req)
		if err != nil {
			log.Info().Err(err).Msg("downstream call failed")
			http.Error(w, "the downstream API could not be reached", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, maxDownstreamBody))
	})
	return mux
}
