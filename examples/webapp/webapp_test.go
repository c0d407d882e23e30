package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core/config"
	"github.com/credhost/credhost/emulator"
	"github.com/credhost/credhost/emulator/emulatortest"
	"github.com/credhost/credhost/internal/testkit/redistest"
	"github.com/credhost/credhost/internal/testkit/testbin"
	"github.com/credhost/credhost/sdk/client"
	"github.com/credhost/credhost/sdk/webapp"
)

const (
	graphRead  = "https://graph.microsoft.com/User.Read"
	daveUser   = "dave@contoso.onmicrosoft.com"
	carolUser  = "carol@contoso.onmicrosoft.com"
	oboCounter = "token:" + emulator.JWTBearerGrant
)

// The example API is DefaultClientID; callers' tokens are for its app id
// URI.
var apiAudience = "api://" + emulator.DefaultClientID

// world is the emulator, a downstream API that checks its tokens with the
// emulator, and a config body for the example's profile.
type world struct {
	srv        *emulator.Server
	downstream *httptest.Server
	calls      atomic.Int32
	dir        string
	pluginDir  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users,
		emulator.User{Username: daveUser, Password: "dave-password"},
		emulator.User{Username: carolUser, Password: "carol-password", ConditionalAccess: []string{"https://graph.microsoft.com"}},
	)
	w := &world{srv: emulatortest.Start(t, cfg), dir: t.TempDir()}
	w.pluginDir = filepath.Dir(testbin.Build(t, "./plugins/obo", "credhost-plugin-obo"))
	// The downstream API (Graph's role): it accepts only emulator tokens
	// for itself and says whom it served.
	w.downstream = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.calls.Add(1)
		tok, err := webapp.BearerToken(r)
		if err != nil {
			http.Error(rw, "no token", http.StatusUnauthorized)
			return
		}
		c, err := w.srv.VerifyAccessToken(tok.Reveal())
		if err != nil || c["aud"] != "https://graph.microsoft.com" {
			http.Error(rw, "bad token", http.StatusUnauthorized)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]any{"upn": c["upn"], "appid": c["appid"], "scp": c["scp"], "uti": c["uti"]})
	}))
	t.Cleanup(w.downstream.Close)
	if err := os.WriteFile(filepath.Join(w.dir, "ca.pem"), w.srv.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// instance starts one instance of the example (its own host and plugin
// process) with the given [cache] table.
func (w *world) instance(t *testing.T, cache string, env map[string]string, logs io.Writer) *httptest.Server {
	t.Helper()
	body := fmt.Sprintf(`[profiles.webapi]
authority = %q
client_id = %q
chain = ["obo"]
ca_file = "ca.pem"
[profiles.webapi.obo]
client_secret = "env:WEBAPI_CLIENT_SECRET"
%s`, w.srv.Authority(emulator.DefaultTenantID), emulator.DefaultClientID, cache)
	file, err := config.Parse(filepath.Join(w.dir, "config.toml"), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "WEBAPI_CLIENT_SECRET" {
			return emulator.DefaultClientSecret
		}
		return env[k]
	}
	log := zerolog.Nop()
	if logs != nil {
		log = zerolog.New(logs).Level(zerolog.DebugLevel)
	}
	client, err := client.New(t.Context(), file, "webapi", &client.Options{PluginDirs: []string{w.pluginDir}, Getenv: getenv, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	ts := httptest.NewServer(newHandler(webapp.NewAPI(client), w.downstream.URL, []string{graphRead}, http.DefaultClient, log))
	t.Cleanup(ts.Close)
	return ts
}

func (w *world) callerToken(t *testing.T, username, audience string, lifetime time.Duration) string {
	t.Helper()
	tok, err := w.srv.IssueUserToken(emulator.DefaultTenantID, username, audience, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// me calls GET /me on an instance with a real HTTP client.
func me(t *testing.T, ts *httptest.Server, bearer string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/me", nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	return resp, body
}

// TestExample: a caller's token becomes a downstream call for that
// caller; the refusals reach the caller as Microsoft APIs answer them.
func TestExample(t *testing.T) {
	w := newWorld(t)
	var logs syncbuf.Buffer
	ts := w.instance(t, "[cache]\nbackend = \"memory\"\n", nil, &logs)
	alice := w.callerToken(t, emulator.DefaultUsername, apiAudience, time.Hour)

	resp, body := me(t, ts, alice)
	if resp.StatusCode != 200 || body["upn"] != emulator.DefaultUsername || body["appid"] != emulator.DefaultClientID || body["scp"] != "User.Read" {
		t.Fatalf("GET /me = %d %v", resp.StatusCode, body)
	}

	t.Run("conditional access", func(t *testing.T) {
		resp, _ := me(t, ts, w.callerToken(t, carolUser, apiAudience, time.Hour))
		h := resp.Header.Get("WWW-Authenticate")
		_, enc, ok := strings.Cut(h, `claims="`)
		claims, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(enc, `"`))
		if resp.StatusCode != 401 || !strings.Contains(h, `error="insufficient_claims"`) || !ok || err != nil || !strings.Contains(string(claims), `"capolids"`) {
			t.Fatalf("status %d, WWW-Authenticate %q (claims %s)", resp.StatusCode, h, claims)
		}
	})
	t.Run("expired caller token", func(t *testing.T) {
		resp, _ := me(t, ts, w.callerToken(t, emulator.DefaultUsername, apiAudience, -time.Minute))
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("token for another API", func(t *testing.T) {
		resp, _ := me(t, ts, w.callerToken(t, emulator.DefaultUsername, "api://another-api", time.Hour))
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("no token", func(t *testing.T) {
		if resp, _ := me(t, ts, ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	if strings.Contains(logs.String(), alice) || strings.Contains(logs.String(), emulator.DefaultClientSecret) {
		t.Error("the logs hold a caller token or the client secret")
	}
}

// TestWebFarm: two instances (two hosts, two plugin processes) share a
// real Redis: a caller's token is exchanged once for both, and another
// caller gets their own.
func TestWebFarm(t *testing.T) {
	w := newWorld(t)
	redis := redistest.Start(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := map[string]string{"WEBAPI_CACHE_KEY": base64.StdEncoding.EncodeToString(key)}
	cache := fmt.Sprintf("[cache]\nbackend = \"redis\"\nurl = %q\nkey = \"env:WEBAPI_CACHE_KEY\"\n", redis.URL())
	a, b := w.instance(t, cache, env, nil), w.instance(t, cache, env, nil)

	alice := w.callerToken(t, emulator.DefaultUsername, apiAudience, time.Hour)
	ra, bodyA := me(t, a, alice)
	rb, bodyB := me(t, b, alice)
	if ra.StatusCode != 200 || rb.StatusCode != 200 || bodyA["upn"] != emulator.DefaultUsername || bodyB["uti"] != bodyA["uti"] {
		t.Fatalf("instance a: %d %v; instance b: %d %v", ra.StatusCode, bodyA, rb.StatusCode, bodyB)
	}
	if n := w.srv.Count(oboCounter); n != 1 {
		t.Fatalf("the emulator saw %d on-behalf-of requests for one caller token on two instances, want 1", n)
	}

	rd, bodyD := me(t, b, w.callerToken(t, daveUser, apiAudience, time.Hour))
	if rd.StatusCode != 200 || bodyD["upn"] != daveUser || bodyD["uti"] == bodyA["uti"] {
		t.Fatalf("another caller: %d %v", rd.StatusCode, bodyD)
	}
	if n := w.srv.Count(oboCounter); n != 2 {
		t.Errorf("on-behalf-of requests after a second caller = %d, want 2", n)
	}
	if n := w.calls.Load(); n != 3 {
		t.Errorf("downstream calls = %d, want 3", n)
	}
}
