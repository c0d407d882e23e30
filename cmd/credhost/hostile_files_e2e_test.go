package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileFilesRefused: /dev/zero, /dev/urandom and a FIFO as the
// client secret file, the CA file and the config file make the real CLI
// fail with an error naming the file, instead of reading until memory
// runs out or waiting forever on the FIFO. The 60 s bound only catches
// a hang; each run takes well under a second.
func TestHostileFilesRefused(t *testing.T) {
	w := newWorld(t)
	fifo := filepath.Join(w.dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	profile := func(caFile, secret string) string {
		n++
		path := filepath.Join(w.dir, fmt.Sprintf("hostile%d.toml", n))
		body := fmt.Sprintf("[profiles.p]\nauthority = %q\nclient_id = %q\nchain = [\"clientcreds\"]\nca_file = %q\n\n[profiles.p.clientcreds]\nclient_secret = %q\n",
			w.srv.Authority(tenantID), clientID, caFile, secret)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ca := filepath.Join(w.dir, "ca.pem")
	for _, tc := range []struct {
		name, config, want string
	}{
		{"secret /dev/zero", profile(ca, "file:/dev/zero"), "secret file /dev/zero is a character device, not a regular file"},
		{"secret /dev/urandom", profile(ca, "file:/dev/urandom"), "secret file /dev/urandom is a character device, not a regular file"},
		{"secret FIFO", profile(ca, "file:"+fifo), "secret file " + fifo + " is a named pipe (FIFO), not a regular file"},
		{"ca_file /dev/zero", profile("/dev/zero", secret), "/dev/zero is a character device, not a regular file"},
		{"ca_file FIFO", profile(fifo, secret), fifo + " is a named pipe (FIFO), not a regular file"},
		{"config /dev/zero", "/dev/zero", "/dev/zero is a character device, not a regular file"},
		{"config FIFO", fifo, fifo + " is a named pipe (FIFO), not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, w.cli, "token", "--config", tc.config, "--scope", scope, "--profile", "p")
			cmd.Env = []string{noAgent, "PATH=/usr/bin:/bin", "HOME=" + w.dir, "CREDHOST_LOG_FORMAT=json"}
			cmd.WaitDelay = time.Second
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("credhost token was still running after 60s (killed): %s", stderr.String())
			}
			if err == nil || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("credhost token: %v, stderr:\n%s\nwant %q", err, stderr.String(), tc.want)
			}
		})
	}
}
