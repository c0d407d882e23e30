package plugin

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/credhost/credhost/core"
	pluginv1 "github.com/credhost/credhost/core/proto/credhost/plugin/v1"
)

// FuzzGetTokenEvent: whatever bytes a plugin sends as a GetTokenEvent
// (a buggy or hostile plugin), decoding it into core values never panics,
// a token event without an access token or expiry is refused, and an
// error event is always a *core.Error of the calling flow.
func FuzzGetTokenEvent(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	for _, ev := range []*pluginv1.GetTokenEvent{
		{Event: &pluginv1.GetTokenEvent_Token{Token: tokenToProto(core.Token{AccessToken: core.NewSecret("at"), ExpiresOn: now, Account: core.Account{Username: "u"}})}},
		{Event: &pluginv1.GetTokenEvent_Token{Token: &pluginv1.Token{}}},
		{Event: &pluginv1.GetTokenEvent_Error{Error: errorToProto(&core.Error{Kind: core.KindInteractionRequired, Code: 50076, Hint: "h", Claims: "{}"})}},
		{Event: &pluginv1.GetTokenEvent_Error{Error: &pluginv1.Error{Kind: 99}}},
		{Event: &pluginv1.GetTokenEvent_Prompt{Prompt: promptToProto(core.Prompt{Message: "m", UserCode: "C", VerificationURI: "https://x", ExpiresOn: now})}},
		{Event: &pluginv1.GetTokenEvent_Progress{Progress: &pluginv1.Progress{Message: "p"}}},
		{},
	} {
		b, err := proto.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev pluginv1.GetTokenEvent
		if proto.Unmarshal(b, &ev) != nil {
			return
		}
		switch e := ev.GetEvent().(type) {
		case *pluginv1.GetTokenEvent_Token:
			tok, err := tokenFromProto("fuzz", e.Token)
			if err == nil && (tok.AccessToken.Reveal() == "" || e.Token.GetExpiresOn() == nil || tok.Flow != "fuzz") {
				t.Fatalf("accepted an unusable token: %+v", e.Token)
			}
			if err != nil && core.KindOf(err) != core.KindFailed {
				t.Fatalf("refusal kind %v", core.KindOf(err))
			}
			_ = tok.ExpiresOn.IsZero()
		case *pluginv1.GetTokenEvent_Error:
			ce := errorFromProto("fuzz", e.Error)
			if ce == nil || ce.Flow != "fuzz" {
				t.Fatalf("error event decoded to %+v", ce)
			}
			_ = ce.Error()
			if k := ce.Kind; k != core.KindFailed && k != core.KindUnavailable && k != core.KindInteractionRequired {
				t.Fatalf("kind %v", k)
			}
		case *pluginv1.GetTokenEvent_Prompt:
			_ = promptFromProto(e.Prompt)
		case *pluginv1.GetTokenEvent_Progress:
			_ = e.Progress.GetMessage()
		}
	})
}
