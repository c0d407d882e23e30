package msalerr

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/credhost/credhost/core"
)

// FromRedirect classifies an error that the identity provider sent to an
// authorization request's redirect URI: the form (or query) fields error,
// error_description and, from Entra ID, error_codes, correlation_id,
// trace_id and claims. It classifies like Classify does token endpoint
// errors: the AADSTS code with the kind and hint of core's table, and
// interaction_required, login_required and consent_required as
// KindInteractionRequired. It returns nil if the fields hold no error.
func FromRedirect(flow string, fields url.Values) *core.Error {
	oauth, desc := fields.Get("error"), fields.Get("error_description")
	if oauth == "" && desc == "" {
		return nil
	}
	e := &core.Error{Kind: core.KindFailed, Flow: flow, OAuthCode: oauth,
		CorrelationID: safeID(fields.Get("correlation_id")), TraceID: safeID(fields.Get("trace_id")), Claims: fields.Get("claims")}
	if first, _, _ := strings.Cut(fields.Get("error_codes"), ","); first != "" {
		e.Code, _ = strconv.Atoi(strings.Trim(first, "[] "))
	}
	if e.Code == 0 {
		e.Code = core.ParseAADSTS(desc)
	}
	info := core.LookupAADSTS(e.Code)
	e.Kind, e.Hint = info.Kind, info.Hint
	if interactionCodes[oauth] {
		e.Kind = core.KindInteractionRequired
		if e.Hint == "" {
			e.Hint = HintInteraction
		}
	}
	msg := firstLine(desc)
	switch {
	case msg == "":
		msg = oauth
	case oauth != "" && !strings.Contains(msg, oauth):
		msg = oauth + ": " + msg
	}
	e.Err = errors.New(sanitize(msg))
	return e
}

// safeID keeps an id only if it is short and plain: it came through the
// browser and will be printed.
func safeID(s string) string {
	if len(s) > 100 {
		return ""
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return ""
		}
	}
	return s
}
