// Command fakeflow is a test plugin whose behaviour its profile chooses:
// option mode = ok | hang | crash | slow | ignore-cancel; the scope "slow"
// makes any mode slow. It forbids the
// common and consumers authorities, like device code does.
package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/credhost/credhost/sdk"
)

type flow struct{ mode string }

func (f *flow) Describe() sdk.Description {
	return sdk.Description{Name: "fakeflow", Version: "0.0.1",
		Options:          []sdk.OptionSpec{{Name: "mode"}, {Name: "password", Secret: true}},
		ForbiddenTenants: []string{"common", "consumers"}}
}

func (f *flow) Configure(_ context.Context, cfg sdk.FlowConfig) error {
	f.mode = cfg.Options["mode"]
	switch f.mode {
	case "ok", "hang", "crash", "slow", "ignore-cancel":
		return nil
	}
	ce := &sdk.ConfigError{Flow: "fakeflow"}
	ce.Add("mode", "must be ok, hang, crash, slow or ignore-cancel")
	return ce
}

func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, _ sdk.Services) (sdk.Token, error) {
	mode := f.mode
	if len(req.Scopes) > 0 && req.Scopes[0] == "slow" {
		mode = "slow"
	}
	switch mode {
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

func main() { sdk.Serve(&flow{}) }
