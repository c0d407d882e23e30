package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/internal/agent"
)

// nobody is the uid the refusal tests connect as.
const nobody = 65534

// TestMain doubles as the peer the refusal test runs as nobody: with
// AGENT_TEST_DIAL set it connects to that socket, says hello and prints
// what the server sent before closing ("" if it closed at once).
func TestMain(m *testing.M) {
	if sock := os.Getenv("AGENT_TEST_DIAL"); sock != "" {
		c, err := net.Dial("unix", sock)
		if err != nil {
			os.Stdout.WriteString("dial: " + err.Error())
			os.Exit(0)
		}
		_, _ = io.WriteString(c, `{"protocol":2,"op":"hello"}`+"\n")
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b, _ := io.ReadAll(io.LimitReader(c, 1<<10))
		os.Stdout.Write(b)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "cha")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// dialAs runs this test binary as uid to connect to sock; it returns
// the bytes the server sent.
func dialAs(t *testing.T, uid int, sock string) string {
	t.Helper()
	// nobody must be able to run the binary: a copy in a world-readable
	// directory.
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "peer")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"AGENT_TEST_DIAL=" + sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("peer as uid %d: %v", uid, err)
	}
	return string(out)
}

// A peer of another uid is refused by SO_PEERCRED even when it can reach
// the socket (here a world-writable one, which the agent itself never
// makes): the same peer as the owner gets the agent's hello.
func TestPeerOfAnotherUIDRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a peer as nobody")
	}
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	s := &server{opts: Options{Version: "test"}, hosts: map[string]*openedHost{}, stop: make(chan struct{}), calls: context.Background()}
	go func() { _ = s.accept(newOwnerListener(l, zerolog.Nop())) }()
	t.Cleanup(func() { l.Close(); s.conns.Wait() })

	if got := dialAs(t, os.Getuid(), sock); !strings.Contains(got, `"version":"test"`) {
		t.Fatalf("the owner's peer got %q, want the hello: the check would pass vacuously", got)
	}
	if got := dialAs(t, nobody, sock); got != "" {
		t.Fatalf("a peer running as nobody got %q, want the connection closed at once", got)
	}
}

// A runtime directory or socket owned by another uid is refused, by the
// client and by the agent; so is a directory others may enter.
func TestForeignDirRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := filepath.Join(shortDir(t), "a")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Dial(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Dial: %v, want a refusal naming the owner", err)
	}
	err := Serve(context.Background(), Options{Dir: dir, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Serve: %v, want a refusal naming the owner", err)
	}
	if err := os.Chown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Dial(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "must be 0700") {
		t.Fatalf("Dial on a 0755 directory: %v", err)
	}
	// A socket another uid planted in a private directory.
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", agent.Socket(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chown(agent.Socket(dir), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Dial(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Dial to a foreign socket: %v", err)
	}
}

// startAgent serves an agent in dir until the test ends.
func startAgent(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Options{Dir: dir, Log: zerolog.Nop(), Version: "test", IdleTimeout: time.Minute})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := agent.Dial(ctx, dir); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("agent did not come up: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatusStopAndSecondAgent(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a")
	startAgent(t, dir)
	c, err := agent.Dial(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(context.Background())
	if err != nil || st.PID != os.Getpid() || st.Version != "test" || st.RSSBytes == 0 || st.Socket != agent.Socket(dir) {
		t.Fatalf("Status = %v, %v", st, err)
	}
	// A second agent on the same directory refuses to start.
	if err := Serve(context.Background(), Options{Dir: dir, Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "another agent") {
		t.Fatalf("second Serve: %v", err)
	}
	fi, err := os.Lstat(agent.Socket(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v, %v", fi.Mode(), err)
	}
}

// A caller whose TLS roots, proxies, Kerberos or AZURE_* settings differ
// from the agent's is told to go in-process.
func TestEnvironmentDiffFallsBack(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a")
	startAgent(t, dir)
	c, err := agent.Dial(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "SSL_CERT_FILE=/elsewhere.pem", "AZURE_TENANT_ID=other")
	_, err = c.GetToken(context.Background(), &agent.TokenRequest{Env: env, Scopes: []string{"s"}}, nil)
	if !errors.Is(err, agent.ErrFallback) || !strings.Contains(err.Error(), "AZURE_TENANT_ID, SSL_CERT_FILE") {
		t.Fatalf("GetToken with another environment: %v, want a fallback naming the variables", err)
	}
}

// fakeAgent listens on dir's socket and answers every connection with
// reply (after reading the request line).
func fakeAgent(t *testing.T, dir, reply string) {
	t.Helper()
	if err := agent.EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", agent.Socket(dir))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(agent.Socket(dir), 0o600)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = bufio.NewReader(c).ReadString('\n')
			_, _ = io.WriteString(c, reply)
			c.Close()
		}
	}()
}

// An agent of another protocol version, or something that does not
// speak the protocol at all (protocol 1 was gRPC: an HTTP/2 frame), is a
// fallback that says what to do.
func TestOtherProtocolVersionFallsBack(t *testing.T) {
	for _, tc := range []struct{ name, reply, want string }{
		{"newer", `{"protocol":3,"refused":"the agent speaks protocol 3, the client 2"}` + "\n", "speaks protocol 3 and this client 2; stop it (credhost agent stop)"},
		{"grpc", "\x00\x00\x12\x04\x00\x00\x00\x00\x00", "does not speak agent protocol 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(shortDir(t), "a")
			fakeAgent(t, dir, tc.reply)
			_, err := agent.Dial(context.Background(), dir)
			if !errors.Is(err, agent.ErrFallback) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial: %v, want a fallback saying %q", err, tc.want)
			}
		})
	}
}

// A client of another protocol version is refused with the agent's.
func TestAgentRefusesOtherClientVersion(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a")
	startAgent(t, dir)
	c, err := net.Dial("unix", agent.Socket(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, `{"protocol":1,"op":"hello"}`+"\n")
	var r agent.Reply
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Protocol != agent.ProtocolVersion || !strings.Contains(r.Refused, "the client 1") || r.Hello != nil {
		t.Fatalf("reply %+v, want a refusal with protocol %d", r, agent.ProtocolVersion)
	}
}

// A peer that connects and sends nothing, or garbage, neither blocks the
// agent nor gets an answer; the next call is served.
func TestBadPeersDoNotBlock(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a")
	startAgent(t, dir)
	silent, err := net.Dial("unix", agent.Socket(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	junk, err := net.Dial("unix", agent.Socket(dir))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(junk, "not json\n")
	if b, _ := io.ReadAll(junk); len(b) != 0 {
		t.Fatalf("the agent answered garbage with %q", b)
	}
	junk.Close()
	if _, err := agent.Dial(context.Background(), dir); err != nil {
		t.Fatalf("hello after bad peers: %v", err)
	}
}

// An agent without calls exits after its idle timeout and removes its
// socket; Stop ends one at once.
func TestIdleTimeoutAndStop(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a")
	began := time.Now()
	if err := Serve(context.Background(), Options{Dir: dir, Log: zerolog.Nop(), IdleTimeout: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Fatalf("the idle agent exited after %v, before its timeout", took)
	}
	if _, err := os.Lstat(agent.Socket(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket after exit: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- Serve(context.Background(), Options{Dir: dir, Log: zerolog.Nop(), IdleTimeout: time.Hour})
	}()
	deadline := time.Now().Add(5 * time.Second)
	var c *agent.Client
	for {
		var err error
		if c, err = agent.Dial(context.Background(), dir); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not end the agent")
	}
}
