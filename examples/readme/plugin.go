package readme

// The Go snippets of docs/writing-a-plugin.md, compiled. They are not
// run: the flow is a stand-in that shows the calls a plugin makes.

import (
	"context"
	"errors"
	"testing"

	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/plugintest"
)

const flowName = "example"

type flow struct{}

func newFlow() sdk.Flow { return &flow{} }

func (f *flow) Describe() sdk.Description { return sdk.Description{Name: flowName} }

func (f *flow) Configure(ctx context.Context, cfg sdk.FlowConfig) error {
	ce := &sdk.ConfigError{Flow: flowName}
	if cfg.Secrets["api_key"].IsZero() {
		ce.Add("api_key", "is required")
	}
	if err := ce.OrNil(); err != nil {
		return err
	}
	return nil
}

func (f *flow) GetToken(ctx context.Context, req sdk.TokenRequest, host sdk.Services) (sdk.Token, error) {
	return sdk.Token{}, errors.New("a stand-in")
}

func (f *flow) Check(ctx context.Context, host sdk.Services) error {
	return nil
}

// builtBinaryPath and stalled stand for what a plugin's own test has.
var builtBinaryPath = ""

func stalled(addr string) sdk.FlowConfig { return sdk.FlowConfig{} }

func TestConformance(t *testing.T) {
	srv := emulatortest.Start(t, emulator.DefaultConfig()) // an Entra ID lookalike
	plugintest.Run(t, plugintest.Config{
		NewFlow: newFlow,
		// Good: settings that get a token from srv; Binary (optional): the
		// plugin built into a temp dir.
		Binary:  builtBinaryPath,
		Good:    sdk.FlowConfig{CACertificates: srv.CACertPEM()},
		Request: sdk.TokenRequest{Scopes: []string{"api://x/.default"}},
		Bad: []plugintest.Bad{
			{Name: "no key", Config: sdk.FlowConfig{}, Fields: []string{"api_key"}},
		},
		Stalled: stalled, // settings whose first request goes to addr
	})
}
