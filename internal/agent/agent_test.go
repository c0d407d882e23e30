package agent

import (
	"context"
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
	"google.golang.org/grpc"

	agentv1 "github.com/credhost/credhost/core/proto/credhost/agent/v1"
)

// nobody is the uid the refusal tests connect as.
const nobody = 65534

// TestMain doubles as the peer the refusal test runs as nobody: with
// AGENT_TEST_DIAL set it connects to that socket and prints what the
// server sent before closing ("" if it closed at once).
func TestMain(m *testing.M) {
	if sock := os.Getenv("AGENT_TEST_DIAL"); sock != "" {
		c, err := net.Dial("unix", sock)
		if err != nil {
			os.Stdout.WriteString("dial: " + err.Error())
			os.Exit(0)
		}
		// A gRPC server speaks first (its HTTP/2 SETTINGS frame).
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b, _ := io.ReadAll(io.LimitReader(c, 9))
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
// makes): the same peer as the owner gets the server's first frame.
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
	g := grpc.NewServer()
	agentv1.RegisterAgentServiceServer(g, &server{})
	go func() { _ = g.Serve(newOwnerListener(l, zerolog.Nop())) }()
	t.Cleanup(g.Stop)

	if got := dialAs(t, os.Getuid(), sock); len(got) == 0 {
		t.Fatalf("the owner's peer got nothing: the check would pass vacuously")
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
	if _, err := Dial(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Dial: %v, want a refusal naming the owner", err)
	}
	err := Serve(context.Background(), ServerOptions{Dir: dir, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Serve: %v, want a refusal naming the owner", err)
	}
	if err := os.Chown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "must be 0700") {
		t.Fatalf("Dial on a 0755 directory: %v", err)
	}
	// A socket another uid planted in a private directory.
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", Socket(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chown(Socket(dir), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Dial to a foreign socket: %v", err)
	}
}

// startAgent serves an agent in dir until the test ends.
func startAgent(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServerOptions{Dir: dir, Log: zerolog.Nop(), Version: "test", IdleTimeout: time.Minute})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := Dial(ctx, dir)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not come up: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatusStopAndSecondAgent(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a")
	startAgent(t, dir)
	c, err := Dial(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status(context.Background())
	if err != nil || st.GetPid() != int32(os.Getpid()) || st.GetProtocolVersion() != ProtocolVersion || st.GetRssBytes() == 0 {
		t.Fatalf("Status = %v, %v", st, err)
	}
	// A second agent on the same directory refuses to start.
	if err := Serve(context.Background(), ServerOptions{Dir: dir, Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "another agent") {
		t.Fatalf("second Serve: %v", err)
	}
	fi, err := os.Lstat(Socket(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v, %v", fi.Mode(), err)
	}
}

// A caller whose TLS roots, proxies, Kerberos or AZURE_* settings differ
// from the agent's is told to go in-process.
func TestEnvironmentDiffFallsBack(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a")
	startAgent(t, dir)
	c, err := Dial(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	env := append(os.Environ(), "SSL_CERT_FILE=/elsewhere.pem", "AZURE_TENANT_ID=other")
	_, err = c.GetToken(context.Background(), &agentv1.GetTokenRequest{Env: env, Scopes: []string{"s"}}, nil)
	if !errors.Is(err, ErrFallback) || !strings.Contains(err.Error(), "AZURE_TENANT_ID, SSL_CERT_FILE") {
		t.Fatalf("GetToken with another environment: %v, want a fallback naming the variables", err)
	}
}

// versionServer answers Hello with another protocol version.
type versionServer struct {
	agentv1.UnimplementedAgentServiceServer
}

func (versionServer) Hello(context.Context, *agentv1.HelloRequest) (*agentv1.HelloResponse, error) {
	return &agentv1.HelloResponse{ProtocolVersion: ProtocolVersion + 1}, nil
}

func TestOtherProtocolVersionFallsBack(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a")
	if err := ensureDir(dir); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", Socket(dir))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(Socket(dir), 0o600)
	g := grpc.NewServer()
	agentv1.RegisterAgentServiceServer(g, versionServer{})
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	_, err = Dial(context.Background(), dir)
	if !errors.Is(err, ErrFallback) || !strings.Contains(err.Error(), "speaks protocol 2 and this client 1") {
		t.Fatalf("Dial to an agent of another version: %v", err)
	}
}

// An agent without calls exits after its idle timeout and removes its
// socket; Stop ends one at once.
func TestIdleTimeoutAndStop(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a")
	began := time.Now()
	if err := Serve(context.Background(), ServerOptions{Dir: dir, Log: zerolog.Nop(), IdleTimeout: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Fatalf("the idle agent exited after %v, before its timeout", took)
	}
	if _, err := os.Lstat(Socket(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket after exit: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- Serve(context.Background(), ServerOptions{Dir: dir, Log: zerolog.Nop(), IdleTimeout: time.Hour})
	}()
	deadline := time.Now().Add(5 * time.Second)
	var c *Client
	for {
		var err error
		if c, err = Dial(context.Background(), dir); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer c.Close()
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
