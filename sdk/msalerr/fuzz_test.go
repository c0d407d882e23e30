package msalerr

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/credhost/credhost/core"
)

// FuzzClassify: any token endpoint answer (status, body) that MSAL turns
// into an error classifies without a panic into a *core.Error whose text
// is one bounded line and never holds a token-like value planted in the
// body.
func FuzzClassify(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{400, `{"error":"invalid_grant","error_description":"AADSTS70000: The grant is invalid.\r\nTrace ID: x","error_codes":[70000],"correlation_id":"c","trace_id":"t"}`},
		{400, `{"error":"interaction_required","error_codes":[50076],"claims":"{\"access_token\":{}}"}`},
		{401, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`},
		{429, ``},
		{503, `<html>Service Unavailable</html>`},
		{200, `{"access_token":"eyJ`},
		{400, `{"error":7,"error_codes":"x"}`},
		{400, `{"error_codes":[]}`},
		{500, "\xff\xfe"},
	}
	for _, s := range seeds {
		f.Add(s.status, s.body, false)
		f.Add(s.status, s.body, true)
	}
	const planted = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmdXp6ZWQtc2VjcmV0In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	f.Fuzz(func(t *testing.T, status int, body string, asJSONErr bool) {
		body = strings.ReplaceAll(body, "TOKEN", planted)
		var err error
		if asJSONErr {
			err = msalerrors.InvalidJsonErr{Err: fmt.Errorf("json decode error: bad\nraw message was: %s", body)}
		} else {
			req, _ := http.NewRequest(http.MethodPost, "https://login.example/t/oauth2/v2.0/token", nil)
			resp := &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Request: req}
			err = msalerrors.CallErr{Req: req, Resp: resp, Err: fmt.Errorf("http call error: reply status code was %d:\n%s", status, body)}
		}
		got := Classify("fuzz", err)
		var ce *core.Error
		if !errors.As(got, &ce) {
			t.Fatalf("Classify returned %T, want *core.Error", got)
		}
		msg := ce.Error()
		if ce.Flow != "fuzz" || ce.Err == nil {
			t.Fatalf("unclassified: %+v", ce)
		}
		if strings.Contains(msg, planted) {
			t.Fatalf("a token from the body reached the error text: %q", msg)
		}
		if inner := ce.Err.Error(); strings.ContainsAny(inner, "\r\n") || len([]rune(inner)) > 600 {
			t.Fatalf("error text is not one bounded line: %q", inner)
		}
	})
}
