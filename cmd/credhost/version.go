package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/pflag"

	"github.com/credhost/credhost/core/plugin"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type versionCmd struct{}

func (*versionCmd) flags(*pflag.FlagSet)    {}
func (*versionCmd) validate(*globals) error { return nil }

func (*versionCmd) run(_ context.Context, _ *globals, e *env, _ []string) error {
	msal := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/AzureAD/microsoft-authentication-library-for-go" {
				msal = d.Version
			}
		}
	}
	_, err := fmt.Fprintf(e.stdout, "credhost %s (plugin protocol %d, %s, %s/%s, msal-go %s)\n",
		version, plugin.ProtocolVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH, msal)
	return err
}
