package agent

import (
	"errors"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/credhost/credhost/core"
	agentv1 "github.com/credhost/credhost/core/proto/credhost/agent/v1"
)

func promptToProto(p core.Prompt) *agentv1.Prompt {
	pp := &agentv1.Prompt{Message: p.Message, VerificationUri: p.VerificationURI, UserCode: p.UserCode}
	if !p.ExpiresOn.IsZero() {
		pp.ExpiresOn = timestamppb.New(p.ExpiresOn)
	}
	return pp
}

func promptFromProto(p *agentv1.Prompt) core.Prompt {
	cp := core.Prompt{Message: p.GetMessage(), VerificationURI: p.GetVerificationUri(), UserCode: p.GetUserCode()}
	if p.GetExpiresOn() != nil {
		cp.ExpiresOn = p.GetExpiresOn().AsTime()
	}
	return cp
}

func tokenToProto(t core.Token) *agentv1.Token {
	pt := &agentv1.Token{AccessToken: t.AccessToken.Reveal(), TokenType: t.TokenType, ExpiresOn: timestamppb.New(t.ExpiresOn),
		HomeAccountId: t.Account.HomeAccountID, Username: t.Account.Username, AccountTenantId: t.Account.TenantID, Flow: t.Flow}
	if !t.RefreshOn.IsZero() {
		pt.RefreshOn = timestamppb.New(t.RefreshOn)
	}
	return pt
}

func tokenFromProto(t *agentv1.Token) core.Token {
	ct := core.Token{AccessToken: core.NewSecret(t.GetAccessToken()), TokenType: t.GetTokenType(), ExpiresOn: t.GetExpiresOn().AsTime(),
		Account: core.Account{HomeAccountID: t.GetHomeAccountId(), Username: t.GetUsername(), TenantID: t.GetAccountTenantId()},
		Flow:    t.GetFlow()}
	if t.GetRefreshOn() != nil {
		ct.RefreshOn = t.GetRefreshOn().AsTime()
	}
	return ct
}

func errorToProto(err error) *agentv1.Error {
	var u usageError
	pe := &agentv1.Error{Message: err.Error(), Usage: errors.As(err, &u)}
	switch core.KindOf(err) {
	case core.KindUnavailable:
		pe.Kind = agentv1.Error_KIND_UNAVAILABLE
	case core.KindInteractionRequired:
		pe.Kind = agentv1.Error_KIND_INTERACTION_REQUIRED
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		pe.Code, pe.OauthCode, pe.Claims = int32(ce.Code), ce.OAuthCode, ce.Claims
	}
	return pe
}

// RemoteError is an error the agent answered with: its text is the
// agent's, and it unwraps to a core.Error of the same kind (so exit codes
// and claims hints work as in-process).
type RemoteError struct {
	msg   string
	cause *core.Error
	// Usage marks a problem with the caller's flags or config.
	Usage bool
}

func (e *RemoteError) Error() string { return e.msg }
func (e *RemoteError) Unwrap() error { return e.cause }

func errorFromProto(pe *agentv1.Error) error {
	kind := core.KindFailed
	switch pe.GetKind() {
	case agentv1.Error_KIND_UNAVAILABLE:
		kind = core.KindUnavailable
	case agentv1.Error_KIND_INTERACTION_REQUIRED:
		kind = core.KindInteractionRequired
	}
	return &RemoteError{msg: pe.GetMessage(), Usage: pe.GetUsage(), cause: &core.Error{Kind: kind, Code: int(pe.GetCode()),
		OAuthCode: pe.GetOauthCode(), Claims: pe.GetClaims(), Err: errors.New(pe.GetMessage())}}
}
