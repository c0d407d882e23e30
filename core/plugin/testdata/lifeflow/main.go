// Command lifeflow is a test plugin for process lifetimes and pins. Its
// first scope chooses what GetToken does:
//   - "spawn": start a child (sleep, with argv[0] the plugin's own path
//     and "-child", so tests find it) and answer with the child's pid;
//   - "hang": wait until the call is cancelled;
//   - "spawn-hang": start that child, then wait until the call is
//     cancelled;
//   - "self": answer with the plugin's pid, argv[0] and executable;
//   - anything else: answer "ok".
//
// A build with -X main.marker=<path> writes that file as the first thing
// it does: the pin race test builds such an "unpinned" twin and checks it
// never ran.
package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/credhost/credhost/sdk"
)

var marker string

type flow struct{}

func (flow) Describe() sdk.Description { return sdk.Description{Name: "lifeflow", Version: "0.0.1"} }

func (flow) Configure(context.Context, sdk.FlowConfig) error { return nil }

func (flow) GetToken(ctx context.Context, req sdk.TokenRequest, _ sdk.Services) (sdk.Token, error) {
	mode := ""
	if len(req.Scopes) > 0 {
		mode = req.Scopes[0]
	}
	answer := "ok"
	switch mode {
	case "spawn", "spawn-hang":
		cmd := exec.Command("sleep", "300")
		cmd.Args[0] = os.Args[0] + "-child"
		if err := cmd.Start(); err != nil {
			return sdk.Token{}, err
		}
		answer = strconv.Itoa(cmd.Process.Pid)
		if mode == "spawn-hang" {
			<-ctx.Done()
			return sdk.Token{}, ctx.Err()
		}
	case "hang":
		<-ctx.Done()
		return sdk.Token{}, ctx.Err()
	case "self":
		exe, err := os.Executable()
		if err != nil {
			return sdk.Token{}, err
		}
		answer = strings.Join([]string{strconv.Itoa(os.Getpid()), os.Args[0], exe}, "\n")
	}
	if answer == "" {
		return sdk.Token{}, errors.New("no answer")
	}
	return sdk.Token{AccessToken: sdk.NewSecret(answer), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func main() {
	if marker != "" {
		_ = os.WriteFile(marker, []byte("ran\n"), 0o600)
	}
	sdk.Serve(flow{})
}
