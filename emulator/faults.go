package emulator

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Fault makes the emulator misbehave for matching requests, to test retry
// and error handling. Faults are applied before normal handling, in the
// order they were injected.
type Fault struct {
	// Endpoint is the endpoint to match ("token", "discovery", "keys",
	// "instance_discovery"), or "" for any.
	Endpoint string
	// Status, if not 0, is returned instead of handling the request, with
	// an Entra-style error body (AADSTS90033, a transient error).
	Status int
	// RetryAfter is the raw Retry-After header value ("3" or an HTTP
	// date), sent with Status.
	RetryAfter string
	// Latency delays the request (or the fault response) by this much.
	Latency time.Duration
	// Drop closes the connection without a response (on HTTP/2, resets
	// the stream).
	Drop bool
	// Body, if not "", is sent instead of handling the request, with
	// Status (default 200) and a JSON content type: a malformed or
	// truncated answer (faults_body.go).
	Body string
	// OmitFields handles the request normally, then removes these
	// top-level fields from its JSON answer: a token response missing
	// access_token or expires_in.
	OmitFields []string
	// SlowBody handles the request normally, then sends the headers and
	// the first half of the answer, waits SlowBody (or until the client
	// gives up), and sends the rest.
	SlowBody time.Duration
	// Times is how many requests the fault applies to; 0 means until
	// ClearFaults.
	Times int
}

// faults is the queue of injected faults. It is safe for concurrent use.
type faults struct {
	mu    sync.Mutex
	queue []*Fault
}

// InjectFault queues f. A request takes the first queued fault whose
// Endpoint matches; a fault with Times > 0 is removed once used up.
func (s *Server) InjectFault(f Fault) {
	f.OmitFields = slices.Clone(f.OmitFields) // the caller may reuse its slice
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.queue = append(s.faults.queue, &f)
}

// ClearFaults removes every queued fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.queue = nil
}

// take returns a copy of the fault that applies to a request to endpoint,
// using up one of its Times.
func (fs *faults) take(endpoint string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.queue {
		if f.Endpoint != "" && f.Endpoint != endpoint {
			continue
		}
		out := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				fs.queue = append(fs.queue[:i:i], fs.queue[i+1:]...)
			}
		}
		return out, true
	}
	return Fault{}, false
}

// applyFault runs the fault for endpoint, if any, and reports whether it
// answered the request.
// A fault that rewrites the answer (OmitFields, SlowBody) runs next itself.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, endpoint string, next http.HandlerFunc) bool {
	f, ok := s.faults.take(endpoint)
	if !ok {
		return false
	}
	info := infoFrom(r.Context())
	info.fault = true
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	if f.Drop {
		dropConnection(w)
		return true
	}
	if f.Body != "" {
		writeFaultBody(w, f)
		return true
	}
	if len(f.OmitFields) > 0 || f.SlowBody > 0 {
		rewriteAnswer(w, r, f, next)
		return true
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	oauth := "temporarily_unavailable"
	switch {
	case f.Status == http.StatusInternalServerError:
		oauth = "server_error"
	case f.Status < 500 && f.Status != http.StatusTooManyRequests:
		oauth = "invalid_request"
	}
	s.writeError(w, r, &aadError{
		status: f.Status,
		oauth:  oauth,
		code:   90033,
		desc:   "A transient error has occurred. Please try again. (injected fault, HTTP " + strconv.Itoa(f.Status) + ")",
	})
	return true
}

// dropConnection ends the request without a response: it hijacks and
// closes an HTTP/1 connection, or aborts an HTTP/2 stream.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
		return
	}
	// http.ErrAbortHandler is the documented way to abort a response; the
	// server recovers it silently.
	panic(http.ErrAbortHandler)
}
