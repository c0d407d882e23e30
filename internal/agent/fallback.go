package agent

import (
	"context"
	"errors"

	"github.com/credhost/credhost/core"
)

// Credential is next behind the agent: GetToken asks the agent (started
// on demand when call.Exe is set) and, when the agent cannot answer
// (ErrFallback), next in-process. It is the whole of what an embedder
// needs (client.Options.Agent).
func Credential(call *Call, next core.Credential) core.Credential {
	return &credential{call: call, next: next}
}

type credential struct {
	call *Call
	next core.Credential
}

func (c *credential) GetToken(ctx context.Context, req core.TokenRequest) (core.Token, error) {
	tok, err := GetToken(ctx, c.call, req)
	if errors.Is(err, ErrFallback) {
		c.call.Log.Debug().Err(err).Msg("the agent is not answering; getting the token in-process")
		return c.next.GetToken(ctx, req)
	}
	return tok, err
}
