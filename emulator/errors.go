package emulator

import (
	"fmt"
	"net/http"
)

// aadError is an error the emulator answers with, shaped like Entra ID's:
// error_description starts with "AADSTS<code>: ".
type aadError struct {
	status   int    // HTTP status, 400 unless said otherwise
	oauth    string // RFC 6749 error code, e.g. "invalid_client"
	code     int    // AADSTS number
	desc     string // text after "AADSTS<code>: "
	subError string // e.g. "basic_action"; optional
	claims   string // claims challenge JSON; optional
}

func (e *aadError) Error() string { return fmt.Sprintf("AADSTS%d: %s", e.code, e.desc) }

func newError(status int, oauth string, code int, format string, args ...any) *aadError {
	return &aadError{status: status, oauth: oauth, code: code, desc: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON Entra ID returns for a failed request.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
	SubError         string `json:"suberror,omitempty"`
	Claims           string `json:"claims,omitempty"`
}

// entraTimestamp is the layout of Entra ID's error timestamps.
const entraTimestamp = "2006-01-02 15:04:05Z"

// writeError answers r with e.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *aadError) {
	info := infoFrom(r.Context())
	info.aadsts = e.code
	ts := s.now().UTC().Format(entraTimestamp)
	status := e.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, errorBody{
		Error: e.oauth,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			e.code, e.desc, info.traceID, info.correlationID, ts),
		ErrorCodes:    []int{e.code},
		Timestamp:     ts,
		TraceID:       info.traceID,
		CorrelationID: info.correlationID,
		ErrorURI:      "https://" + s.publicHost(r) + "/error?code=" + fmt.Sprint(e.code),
		SubError:      e.subError,
		Claims:        e.claims,
	})
}

// Errors shared by several endpoints and grants. Texts follow Entra ID's.

func errTenantNotFound(oauth, tenant string) *aadError {
	return newError(http.StatusBadRequest, oauth, 90002,
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. "+
			"Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant)
}

func errMissingParameter(name string) *aadError {
	return newError(http.StatusBadRequest, "invalid_request", 900144,
		"The request body must contain the following parameter: '%s'.", name)
}

func errBadRequest(why string) *aadError {
	return newError(http.StatusBadRequest, "invalid_request", 90023, "The authentication service request isn't valid: %s", why)
}

func errUnsupportedGrant(grant string) *aadError {
	return newError(http.StatusBadRequest, "unsupported_grant_type", 70003,
		"The app requested an unsupported grant type '%s'.", grant)
}

func errNoTenantInfo() *aadError {
	return newError(http.StatusBadRequest, "invalid_request", 50059,
		"No tenant-identifying information found in either the request or implied by any provided credentials.")
}

func errAppNotFound(clientID, tenant string) *aadError {
	return newError(http.StatusBadRequest, "unauthorized_client", 700016,
		"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been "+
			"installed by the administrator of the tenant or consented to by any user in the tenant. "+
			"You may have sent your authentication request to the wrong tenant.", clientID, tenant)
}

func errInvalidScope(scope, why string) *aadError {
	return newError(http.StatusBadRequest, "invalid_scope", 70011,
		"The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. "+
			"The scope '%s' is not valid. %s", scope, why)
}

func errServer(err error) *aadError {
	return newError(http.StatusInternalServerError, "server_error", 90033, "A transient error has occurred: %v", err)
}
