package clientauth

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// TestFileAssertionRefusesSpecialFiles: a federated token file that is a
// FIFO or a device is an error at once, never a hang or a read of
// /dev/zero until memory runs out.
func TestFileAssertionRefusesSpecialFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{fifo: "named pipe (FIFO)", "/dev/zero": "character device"} {
		done := make(chan error, 1)
		go func() {
			_, err := FileAssertion(path)(context.Background(), confidential.AssertionRequestOptions{})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
				t.Errorf("FileAssertion(%s) = %v, want an error naming it %s", path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("FileAssertion(%s) still reading after 10s", path)
		}
	}
}
