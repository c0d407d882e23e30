// Command embedder is a program that uses the sdk the way an embedder
// would, and then goes away without Close: `embedder <config> <scope>`
// gets a token for scope (lifeflow's "spawn" leaves a child of the plugin
// running), prints it, and then either calls os.Exit (no Close, as after
// log.Fatal) or, with a third argument "wait", blocks until it is killed.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/credhost/credhost/sdk"
	"github.com/credhost/credhost/sdk/client"
)

func main() {
	c, err := client.Open(context.Background(), "p", &client.Options{ConfigPath: os.Args[1]})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	tok, err := c.GetToken(context.Background(), sdk.TokenRequest{Scopes: []string{os.Args[2]}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(tok.AccessToken.Reveal())
	if len(os.Args) > 3 && os.Args[3] == "wait" {
		select {}
	}
	os.Exit(0) // without c.Close()
}
