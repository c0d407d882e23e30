package emulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Claims requests (OpenID Connect's "claims" parameter), as Entra ID uses
// them: a conditional access policy on a resource answers a user grant
// with interaction_required and a claims challenge naming the policy
// ({"access_token":{"capolids":{"essential":true,"values":[id]}}}); the
// client sends it back as "claims" after the user stepped up, and the
// token is issued. A client that handles such challenges itself declares
// the client capability "cp1" ({"access_token":{"xms_cc":{"values":
// ["cp1"]}}}, Continuous Access Evaluation); its tokens carry "xms_cc".

// claimsRequest is what the emulator reads from a claims parameter.
type claimsRequest struct {
	capolids []string // conditional access policies the client answers
	xmsCC    []string // client capabilities, e.g. "cp1"
}

// claimRequest is one requested claim.
type claimRequest struct {
	Essential bool     `json:"essential"`
	Value     string   `json:"value"`
	Values    []string `json:"values"`
}

// parseClaimsParam reads a claims parameter. An empty one asks for
// nothing; one that is not a JSON object of objects is refused with
// AADSTS50117, the code Entra ID is reported to answer with (see
// docs/emulator.md).
func parseClaimsParam(s string) (claimsRequest, *aadError) {
	var cr claimsRequest
	if strings.TrimSpace(s) == "" {
		return cr, nil
	}
	var m map[string]map[string]*claimRequest
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return cr, newError(http.StatusBadRequest, "invalid_request", 50117,
			"Failed to deserialize policy specified in the request's claim parameter.")
	}
	at := m["access_token"]
	if c := at["capolids"]; c != nil {
		cr.capolids = append(c.Values, c.Value)
	}
	if c := at["xms_cc"]; c != nil {
		cr.xmsCC = append(c.Values, c.Value)
	}
	cr.xmsCC = slices.DeleteFunc(cr.xmsCC, func(v string) bool { return v == "" })
	return cr, nil
}

// conditionalAccessPolicy is the id of the policy that guards resource,
// derived from it so that tests can tell policies apart.
func conditionalAccessPolicy(resource string) string {
	return stableGUID("capolicy", strings.ToLower(strings.TrimSuffix(resource, "/")))
}

// satisfies reports whether the claims answer the policy's challenge.
func (cr claimsRequest) satisfies(policy string) bool {
	return slices.ContainsFunc(cr.capolids, func(v string) bool { return strings.EqualFold(v, policy) })
}
