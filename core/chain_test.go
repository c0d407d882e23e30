package core

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type stub struct {
	calls int
	tok   string
	err   error
	claim *string // records the claims it was called with
}

func (s *stub) GetToken(_ context.Context, req TokenRequest) (Token, error) {
	s.calls++
	if s.claim != nil {
		*s.claim = req.Claims
	}
	if s.err != nil {
		return Token{}, s.err
	}
	return Token{AccessToken: NewSecret(s.tok), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func member(name string, s *stub, interactive bool) ChainMember {
	return ChainMember{Name: name, Credential: s, Interactive: func(context.Context) (bool, error) { return interactive, nil }}
}

func TestChain(t *testing.T) {
	ctx := context.Background()
	unavailable := Unavailable("devicecode", "not configured for this profile")
	mfa := &Error{Kind: KindInteractionRequired, Code: 50076, Claims: `{"c":1}`, Err: errors.New("AADSTS50076: mfa")}
	failed := &Error{Kind: KindFailed, Code: 7000215, Err: errors.New("AADSTS7000215: bad secret")}

	t.Run("skips unavailable and says why", func(t *testing.T) {
		a, b := &stub{err: unavailable}, &stub{tok: "b"}
		c, _ := NewChain("p", []ChainMember{member("devicecode", a, true), member("clientcreds", b, false)}, nil)
		tok, err := c.GetToken(ctx, TokenRequest{})
		if err != nil || tok.AccessToken.Reveal() != "b" {
			t.Fatalf("got %v, %v", tok, err)
		}
	})
	t.Run("failure stops the chain", func(t *testing.T) {
		a, b := &stub{err: failed}, &stub{tok: "b"}
		c, _ := NewChain("p", []ChainMember{member("clientcreds", a, false), member("devicecode", b, true)}, nil)
		_, err := c.GetToken(ctx, TokenRequest{})
		if KindOf(err) != KindFailed || b.calls != 0 {
			t.Fatalf("err %v kind %v, second called %d times", err, KindOf(err), b.calls)
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != 7000215 {
			t.Fatalf("errors.As lost the attempt error: %v", err)
		}
	})
	t.Run("interaction required skips non-interactive and passes claims", func(t *testing.T) {
		var got string
		a, b, c3 := &stub{err: mfa}, &stub{tok: "b"}, &stub{tok: "c", claim: &got}
		c, _ := NewChain("p", []ChainMember{member("iwa", a, false), member("clientcreds", b, false), member("authcode", c3, true)}, nil)
		tok, err := c.GetToken(ctx, TokenRequest{})
		if err != nil || tok.AccessToken.Reveal() != "c" || b.calls != 0 || got != `{"c":1}` {
			t.Fatalf("tok %v err %v; non-interactive calls %d; claims %q", tok, err, b.calls, got)
		}
	})
	t.Run("all unavailable lists every attempt", func(t *testing.T) {
		c, _ := NewChain("laptop", []ChainMember{member("iwa", &stub{err: Unavailable("iwa", "no Kerberos ticket")}, false),
			member("devicecode", &stub{err: Unavailable("devicecode", "no terminal")}, true)}, nil)
		_, err := c.GetToken(ctx, TokenRequest{})
		msg := err.Error()
		if KindOf(err) != KindUnavailable || !strings.Contains(msg, `profile "laptop"`) || !strings.Contains(msg, "1. iwa: unavailable: no Kerberos ticket") || !strings.Contains(msg, "2. devicecode: unavailable: no terminal") {
			t.Fatalf("chain error:\n%s", msg)
		}
	})
	t.Run("only interaction left is interaction required", func(t *testing.T) {
		c, _ := NewChain("p", []ChainMember{member("iwa", &stub{err: mfa}, false), member("ropc", &stub{tok: "x"}, false)}, nil)
		_, err := c.GetToken(ctx, TokenRequest{})
		if KindOf(err) != KindInteractionRequired || !strings.Contains(err.Error(), "skipped: cannot interact") {
			t.Fatalf("err %v kind %v", err, KindOf(err))
		}
	})
	t.Run("remembers the winner", func(t *testing.T) {
		a, b := &stub{err: unavailable}, &stub{tok: "b"}
		c, _ := NewChain("p", []ChainMember{member("devicecode", a, true), member("clientcreds", b, false)}, nil)
		for range 3 {
			if _, err := c.GetToken(ctx, TokenRequest{}); err != nil {
				t.Fatal(err)
			}
		}
		if a.calls != 1 || b.calls != 3 {
			t.Fatalf("calls: first %d (want 1), winner %d (want 3)", a.calls, b.calls)
		}
		// The winner becoming unavailable starts the chain over.
		b.err = Unavailable("clientcreds", "gone")
		if _, err := c.GetToken(ctx, TokenRequest{}); KindOf(err) != KindUnavailable || a.calls != 2 {
			t.Fatalf("err %v, first called %d times", err, a.calls)
		}
	})
	t.Run("retry sources", func(t *testing.T) {
		a, b := &stub{err: unavailable}, &stub{tok: "b"}
		c, _ := NewChain("p", []ChainMember{member("devicecode", a, true), member("clientcreds", b, false)}, &ChainOptions{RetrySources: true})
		for range 3 {
			_, _ = c.GetToken(ctx, TokenRequest{})
		}
		if a.calls != 3 {
			t.Fatalf("first member called %d times, want 3", a.calls)
		}
	})
	t.Run("rejects empty and nil", func(t *testing.T) {
		if _, err := NewChain("p", nil, nil); err == nil {
			t.Error("empty chain accepted")
		}
		if _, err := NewChain("p", []ChainMember{{Name: "x"}}, nil); err == nil {
			t.Error("nil credential accepted")
		}
	})
}

func TestKindOfUnclassifiedIsFailed(t *testing.T) {
	if KindOf(errors.New("x")) != KindFailed || KindOf(nil) != KindFailed {
		t.Fatal("unclassified errors must be failures")
	}
}

func TestAADSTSTable(t *testing.T) {
	tests := []struct {
		code int
		kind Kind
		hint bool
	}{
		{50076, KindInteractionRequired, true},
		{50079, KindInteractionRequired, true},
		{65001, KindInteractionRequired, true},
		{7000215, KindFailed, true},
		{700016, KindFailed, true},
		{54005, KindFailed, true},
		{90002, KindFailed, true},
		{12345678, KindFailed, false},
	}
	for _, tt := range tests {
		got := LookupAADSTS(tt.code)
		if got.Kind != tt.kind || (got.Hint != "") != tt.hint {
			t.Errorf("AADSTS%d = %+v, want kind %v hint %v", tt.code, got, tt.kind, tt.hint)
		}
	}
	for s, want := range map[string]int{"AADSTS7000215: Invalid client secret": 7000215, "x AADSTS50076 y": 50076, "none": 0, "AADSTS": 0} {
		if got := ParseAADSTS(s); got != want {
			t.Errorf("ParseAADSTS(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret("hunter2")
	for _, out := range []string{s.String(), s.GoString(), fmtAll(s)} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret leaked: %q", out)
		}
	}
	if s.Reveal() != "hunter2" || !strings.HasPrefix(s.Fingerprint(), "sha256:") {
		t.Fatal("Reveal/Fingerprint")
	}
}

// TestChainSkippedMember: a member that cannot run here is never called,
// is listed with its reason, and the chain goes on to the next.
func TestChainSkippedMember(t *testing.T) {
	ok := CredentialFunc(func(context.Context, TokenRequest) (Token, error) {
		return Token{AccessToken: NewSecret("t"), ExpiresOn: time.Now().Add(time.Hour)}, nil
	})
	unavailable := CredentialFunc(func(context.Context, TokenRequest) (Token, error) {
		return Token{}, &Error{Kind: KindUnavailable, Flow: "azurecli", Err: errors.New("az is not installed")}
	})
	// A chain that succeeds still tells OnAttempt why the members before
	// the winner gave nothing.
	var seen []Attempt
	c, err := NewChain("env", []ChainMember{
		{Name: "EnvironmentCredential", Skipped: "AZURE_CLIENT_SECRET is not set"},
		{Name: "managedidentity", Credential: ok},
	}, &ChainOptions{OnAttempt: func(a Attempt) { seen = append(seen, a) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetToken(context.Background(), TokenRequest{}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Flow != "EnvironmentCredential" || seen[0].Skipped != "AZURE_CLIENT_SECRET is not set" {
		t.Errorf("OnAttempt saw %+v, want the skipped EnvironmentCredential", seen)
	}
	c, _ = NewChain("env", []ChainMember{
		{Name: "EnvironmentCredential", Skipped: "AZURE_CLIENT_SECRET is not set"},
		{Name: "azurecli", Credential: unavailable},
	}, nil)
	_, err = c.GetToken(context.Background(), TokenRequest{})
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Kind() != KindUnavailable || len(ce.Attempts) != 2 ||
		!strings.Contains(err.Error(), "1. EnvironmentCredential: skipped: AZURE_CLIENT_SECRET is not set") ||
		!strings.Contains(err.Error(), "2. azurecli: unavailable: az is not installed") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewChain("p", []ChainMember{{Name: "x"}}, nil); err == nil {
		t.Error("a member with neither credential nor reason was accepted")
	}
}
