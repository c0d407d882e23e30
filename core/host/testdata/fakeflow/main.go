// Command fakeflow is a test plugin whose behaviour its profile chooses:
// option mode = ok | hang | crash | slow | ignore-cancel; the scope "slow"
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
	case "ok", "hang", "crash", "slow", "ignore-cancel":
		return nil
	}
	ce := &sdk.ConfigError{Flow: "fakeflow"}
	ce.Add("mode", "must be ok, hang, crash, slow or ignore-cancel")
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

// flowName is "fakeflow", or the <name> of a credhost-plugin-<name>
// binary.
func flowName() string {
	if name, ok := strings.CutPrefix(filepath.Base(os.Args[0]), "credhost-plugin-"); ok && name != "" {
		return name
	}
	return "fakeflow"
}

func main() { sdk.Serve(&flow{}) }
