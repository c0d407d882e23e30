// Command fakeflow is a test plugin whose behaviour its profile chooses:
// option mode = ok | hang | crash | slow | ignore-cancel | cache (which
// appends an "x" to its cache partition's default entry on every call and
// answers a token that says how many it found, the Go type of the cache
// it was given and the authorization code it got, and how); the scope "slow"
// makes any mode slow, the scope "crash-mid-stream" sends a progress event
// and then exits, and the scope "stdout-garbage" writes junk to stdout
// before answering. Its flow name is "fakeflow", or <name> when its binary
// is installed as credhost-plugin-<name> (so that one build can stand in
// for several flows). It forbids the
// common and consumers authorities, like device code does.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/credhost/credhost/sdk"
)

type flow struct{ mode string }

func (f *flow) Describe() sdk.Description {
	return sdk.Description{Name: flowName(), Version: "0.0.1",
		Options:          []sdk.OptionSpec{{Name: "mode"}, {Name: "password", Secret: true}},
		ForbiddenTenants: []string{"common", "consumers"}}
}

func (f *flow) Configure(_ context.Context, cfg sdk.FlowConfig) error {
	f.mode = cfg.Options["mode"]
	switch f.mode {
	case "ok", "hang", "crash", "slow", "ignore-cancel", "cache":
		return nil
	}
	ce := &sdk.ConfigError{Flow: "fakeflow"}
	ce.Add("mode", "must be ok, hang, crash, slow, ignore-cancel or cache")
	return ce
}

func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, host sdk.Services) (sdk.Token, error) {
	mode := f.mode
	if len(req.Scopes) > 0 {
		switch req.Scopes[0] {
		case "slow", "crash-mid-stream", "stdout-garbage":
			mode = req.Scopes[0]
		}
	}
	switch mode {
	case "cache":
		return cacheToken(ctx, req, host)
	case "crash-mid-stream":
		if host.UI != nil {
			host.UI.Progress(ctx, "working")
		}
		// Let the event leave before the process dies, so that the host
		// sees a stream that started and then broke.
		time.Sleep(200 * time.Millisecond)
		os.Exit(4)
	case "stdout-garbage":
		_, _ = os.Stdout.Write([]byte("\x00\xff not a handshake|1|2|garbage\n"))
	case "crash":
		os.Exit(3)
	case "hang":
		<-ctx.Done()
		return sdk.Token{}, ctx.Err()
	case "ignore-cancel":
		time.Sleep(time.Hour)
	case "slow":
		select {
		case <-ctx.Done():
			return sdk.Token{}, ctx.Err()
		case <-time.After(30 * time.Second):
		}
	}
	if f.mode == "" {
		return sdk.Token{}, errors.New("not configured")
	}
	return sdk.Token{AccessToken: sdk.NewSecret("fake-token"), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// cacheToken is mode cache's answer.
func cacheToken(ctx context.Context, req sdk.TokenRequest, host sdk.Services) (sdk.Token, error) {
	b, err := host.Cache.Load(ctx, "")
	if err != nil {
		return sdk.Token{}, err
	}
	if _, err := host.Cache.Save(ctx, "", sdk.Blob{Data: append(b.Data, 'x'), Version: b.Version}); err != nil {
		return sdk.Token{}, err
	}
	code := "none"
	switch {
	case !req.AuthorizationCode.IsZero():
		code = "field:" + req.AuthorizationCode.Code.Reveal() + "," + req.AuthorizationCode.RedirectURI
	case !req.UserAssertion.IsZero():
		code = "assertion:" + req.UserAssertion.Reveal()
	}
	at := fmt.Sprintf("found=%d cache=%T code=%s", len(b.Data), host.Cache, code)
	return sdk.Token{AccessToken: sdk.NewSecret(at), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// flowName is "fakeflow", or the <name> of a credhost-plugin-<name>
// binary.
func flowName() string {
	if name, ok := strings.CutPrefix(filepath.Base(os.Args[0]), "credhost-plugin-"); ok && name != "" {
		return name
	}
	return "fakeflow"
}

func main() { sdk.Serve(&flow{}) }
