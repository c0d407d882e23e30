// Command credhost gets OAuth2 tokens from Microsoft Entra ID through
// pluggable flows chained per profile.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/credhost/credhost/internal/nodump"
)

func main() {
	// Secrets stay in memory: no core file, no ptrace by other processes
	// of the user. Failing that is worth a warning, not a refusal.
	if err := nodump.Enable(); err != nil {
		fmt.Fprintln(os.Stderr, "credhost: warning:", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
