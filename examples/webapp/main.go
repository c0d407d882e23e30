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
// The profile comes from the credhost config file ($CREDHOST_CONFIG); for
// a web farm give it [cache] backend = "redis", so that every instance
// exchanges a caller's token once. A real API must validate the incoming
// token (issuer, audience, expiry, signature) before acting on it; this
// example leaves that to the IdP, which refuses tokens not issued for the
// API.
package main

import (
	"context"
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
	"github.com/credhost/credhost/sdk/webapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	profile := fs.String("profile", "webapi", "credhost profile (chain [\"obo\"])")
	downstream := fs.String("downstream", "", "URL of the downstream API to call for the caller (required)")
	scope := fs.String("scope", "", "space-separated scopes of the downstream API (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *downstream == "" || *scope == "" {
		fmt.Fprintln(stderr, "webapp: -downstream and -scope are required")
		return 2
	}
	log := zerolog.New(stderr).With().Timestamp().Logger()
	client, err := sdk.Open(*profile, &sdk.Options{Log: log})
	if err != nil {
		fmt.Fprintf(stderr, "webapp: %v\n", err)
		return 1
	}
	defer client.Close()
	srv := &http.Server{Addr: *addr, Handler: newHandler(webapp.NewAPI(client), *downstream, strings.Fields(*scope), http.DefaultClient, log),
		ReadHeaderTimeout: 10 * time.Second}
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
