package emulator

// Faults that damage an answer's body rather than replace its status:
// what a broken proxy, a half-deployed IdP or a congested link send.

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"strconv"
	"time"
)

// writeFaultBody answers with f.Body as is, with f.Status (default 200).
func writeFaultBody(w http.ResponseWriter, f Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(f.Body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(f.Body))
}

// rewriteAnswer runs next into a buffer, removes f.OmitFields from its
// JSON object answer (other answers are left alone), and sends the
// result, slowly if f.SlowBody is set.
func rewriteAnswer(w http.ResponseWriter, r *http.Request, f Fault, next http.HandlerFunc) {
	buf := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	next(buf, r)
	body := buf.body.Bytes()
	if len(f.OmitFields) > 0 {
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) == nil && obj != nil {
			for _, k := range f.OmitFields {
				delete(obj, k)
			}
			if b, err := json.Marshal(obj); err == nil {
				body = b
			}
		}
	}
	maps.Copy(w.Header(), buf.header)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(buf.status)
	if f.SlowBody <= 0 {
		_, _ = w.Write(body)
		return
	}
	half := len(body) / 2
	_, _ = w.Write(body[:half])
	_ = http.NewResponseController(w).Flush()
	t := time.NewTimer(f.SlowBody)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	_, _ = w.Write(body[half:])
}

// bufferedWriter is an http.ResponseWriter that keeps the answer.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
