package plugintest

import (
	"bytes"
	"sync"
)

// logBuffer collects the plugin's log lines, written by go-plugin's
// output copier while a check reads them. It is the kit's own so that a
// plugin author's test links nothing of credhost's internal test helpers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
