package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of the loopback listener.
const (
	// maxResponseBody bounds a posted authorization response; Entra ID's
	// are a few kilobytes even with a claims challenge.
	maxResponseBody = 64 << 10
	// closeGrace is how long closing waits for the last page to reach the
	// browser before dropping connections, so cancellation stays prompt.
	closeGrace = 500 * time.Millisecond
)

// listener is the loopback redirect URI (RFC 8252 7.3) of one sign-in. It
// takes the authorization response as a form_post and hands the first one
// carrying the expected state to the flow, which answers with the page the
// browser gets. Responses with another state or none are refused with a
// page and do not end the wait: they cannot belong to this sign-in (a
// stale tab of an earlier attempt, or another local process posting to the
// port), and letting them end it would let anyone on the machine abort a
// sign-in. It is safe for concurrent use.
type listener struct {
	ln          net.Listener
	srv         *http.Server
	state       string
	redirectURI string

	responses chan *response // unbuffered: one receiver, the flow
	closing   chan struct{}  // closed by close
	closeOnce sync.Once
	accepted  atomic.Bool  // a response with the right state arrived
	refused   atomic.Int32 // responses with a wrong or missing state
}

// response is an authorization response with the right state, waiting for
// the page to answer it with.
type response struct {
	fields url.Values
	reply  chan page // buffered (1): the flow never blocks on it
}

// page is what the browser is shown.
type page struct {
	status  int
	title   string
	message string
	hint    string
}

// listen opens the listener on 127.0.0.1:port (0: a free port). The IPv4
// literal, not "localhost", keeps the redirect URI independent of name
// resolution, as RFC 8252 8.3 recommends.
func listen(port int, state string) (*listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	l := &listener{
		ln:          ln,
		state:       state,
		redirectURI: "http://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port),
		responses:   make(chan *response),
		closing:     make(chan struct{}),
	}
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		ErrorLog: discardLog}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

// close stops the listener: pages being written get closeGrace to finish,
// then every connection is dropped. It is idempotent.
func (l *listener) close() {
	l.closeOnce.Do(func() {
		close(l.closing)
		ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
		defer cancel()
		if err := l.srv.Shutdown(ctx); err != nil {
			_ = l.srv.Close()
		}
	})
}

// ServeHTTP implements http.Handler.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		render(w, page{status: http.StatusNotFound, title: "Not found",
			message: "This address only receives credhost's sign-in response."})
		return
	}
	if r.Method != http.MethodPost {
		// response_mode=form_post: the code never travels in a URL, so a
		// GET (a reload, a bookmark, a query-mode answer) carries nothing
		// this sign-in accepts.
		w.Header().Set("Allow", http.MethodPost)
		render(w, page{status: http.StatusMethodNotAllowed, title: "Nothing to do here",
			message: "This address receives credhost's sign-in response from the sign-in page; there is nothing to open here."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxResponseBody)
	if err := r.ParseForm(); err != nil {
		render(w, page{status: http.StatusBadRequest, title: "Sign-in response not understood",
			message: "The sign-in response could not be read. Return to the terminal for details."})
		return
	}
	if got := r.PostForm.Get("state"); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(l.state)) != 1 {
		l.refused.Add(1)
		render(w, page{status: http.StatusBadRequest, title: "This sign-in response is not the one credhost is waiting for",
			message: "Its state does not match the sign-in in progress (it may come from an older browser tab). " +
				"If credhost is still waiting, finish signing in in the window it opened most recently."})
		return
	}
	if !l.accepted.CompareAndSwap(false, true) {
		render(w, page{status: http.StatusConflict, title: "Already signed in",
			message: "credhost already received the response of this sign-in. You can close this window."})
		return
	}
	resp := &response{fields: r.PostForm, reply: make(chan page, 1)}
	select {
	case l.responses <- resp:
	case <-l.closing:
		render(w, stoppedPage)
		return
	}
	select {
	case p := <-resp.reply:
		render(w, p)
	case <-l.closing:
		// The reply may have been sent just before close.
		select {
		case p := <-resp.reply:
			render(w, p)
		default:
			render(w, stoppedPage)
		}
	case <-r.Context().Done():
	}
}

// stoppedPage answers a response that arrived after the flow stopped
// waiting (timeout or cancellation).
var stoppedPage = page{status: http.StatusServiceUnavailable, title: "credhost stopped waiting",
	message: "credhost is no longer waiting for this sign-in (it timed out or was cancelled). Run the command again."}

// pageTmpl is the one page the listener shows. Styles are inline and
// scripts are refused by the Content-Security-Policy.
var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}} · credhost</title>
<style>body{font-family:system-ui,sans-serif;max-width:32em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}.hint{color:#555}</style>
</head><body>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Hint}}<p class="hint">{{.Hint}}</p>{{end}}
</body></html>
`))

// render writes p with headers that keep it out of caches and frames.
func render(w http.ResponseWriter, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(p.status)
	_ = pageTmpl.Execute(w, struct{ Title, Message, Hint string }{p.title, p.message, p.hint})
}

// discardLog drops net/http's own error lines (a client that hung up):
// the plugin's stderr is its log channel to the host.
var discardLog = log.New(io.Discard, "", 0)

// errPortInUse marks a redirect_port another program holds.
var errPortInUse = errors.New("the redirect port is in use")

// listenError explains why the listener could not open.
func listenError(port int, err error) error {
	var op *net.OpError
	if port != 0 && errors.As(err, &op) && op.Op == "listen" {
		return fmt.Errorf("%w: listen on 127.0.0.1:%d: %v", errPortInUse, port, op.Err)
	}
	return fmt.Errorf("listen on 127.0.0.1: %w", err)
}
