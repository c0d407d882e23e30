package file

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"github.com/credhost/credhost/internal/testkit/syncbuf"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
)

var (
	testKey    = bytes.Repeat([]byte{0x42}, store.KeySize)
	testKeyB64 = base64.StdEncoding.EncodeToString(testKey)
	otherKey   = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x17}, store.KeySize))
)

func init() {
	// Cheap Argon2id for tests; the header records the parameters.
	kdfParams = store.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
}

// logBuffer collects a Store's log output.
type logBuffer struct{ syncbuf.Buffer }

func (l *logBuffer) logger() zerolog.Logger { return zerolog.New(l) }

func openTest(t *testing.T, path string, opts *Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func keyOpts(key string) *Options { return &Options{Key: core.NewSecret(key)} }

func mustSave(t *testing.T, s *Store, key string, b core.Blob) uint64 {
	t.Helper()
	v, err := s.Save(context.Background(), key, b)
	if err != nil {
		t.Fatalf("Save(%q): %v", key, err)
	}
	return v
}

func mustLoad(t *testing.T, s *Store, key string) core.Blob {
	t.Helper()
	b, err := s.Load(context.Background(), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	return b
}

func TestVersionsAndConflicts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.bin")
	a := openTest(t, path, keyOpts(testKeyB64))
	b := openTest(t, path, keyOpts(testKeyB64)) // another "process"

	if got := mustLoad(t, a, "k"); got.Data != nil || got.Version != 0 {
		t.Fatalf("absent key: got %+v", got)
	}
	v1 := mustSave(t, a, "k", core.Blob{Data: []byte("one")})
	steps := []struct {
		name    string
		store   *Store
		version uint64
		data    string
		wantErr error
	}{
		{"stale zero version", b, 0, "x", core.ErrCacheConflict},
		{"made-up version", b, v1 + 1, "x", core.ErrCacheConflict},
		{"current version", b, v1, "two", nil},
		{"now stale", a, v1, "y", core.ErrCacheConflict},
	}
	for _, st := range steps {
		_, err := st.store.Save(ctx, "k", core.Blob{Data: []byte(st.data), Version: st.version})
		if err != st.wantErr {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
	}
	got := mustLoad(t, a, "k")
	if string(got.Data) != "two" || got.Version <= v1 {
		t.Fatalf("after b's save, a loads %q v%d (v1 %d)", got.Data, got.Version, v1)
	}
	// Load returns a copy; Save copies its input.
	got.Data[0] = 'X'
	if again := mustLoad(t, a, "k"); string(again.Data) != "two" {
		t.Fatalf("Load result aliases the cache: %q", again.Data)
	}
	in := []byte("mine")
	mustSave(t, a, "m", core.Blob{Data: in})
	in[0] = 'X'
	if got := mustLoad(t, b, "m"); string(got.Data) != "mine" {
		t.Fatalf("Save keeps the caller's slice: %q", got.Data)
	}

	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "absent"); err != nil {
		t.Fatalf("Delete of an absent key: %v", err)
	}
	if got := mustLoad(t, a, "k"); got.Version != 0 || got.Data != nil {
		t.Fatalf("deleted key loads %+v", got)
	}
	// Versions never repeat, even after a delete.
	if v := mustSave(t, a, "k", core.Blob{}); v <= got.Version || v <= v1 {
		t.Fatalf("version after delete %d not above earlier %d", v, v1)
	}
	keys, err := a.Keys(ctx, "")
	if err != nil || strings.Join(keys, ",") != "k,m" {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.bin")
	s := openTest(t, path, keyOpts(testKeyB64))
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return now }

	tests := []struct {
		key     string
		expires time.Time
	}{
		{"never", time.Time{}},
		{"later", now.Add(time.Hour)},
		{"soon", now.Add(time.Minute)},
		{"past", now.Add(-time.Second)},
	}
	for _, tt := range tests {
		mustSave(t, s, tt.key, core.Blob{Data: []byte(tt.key), ExpiresOn: tt.expires})
	}
	for _, tt := range tests {
		got := mustLoad(t, s, tt.key)
		if tt.key == "past" {
			if got.Version != 0 || got.Data != nil {
				t.Errorf("expired entry loads %+v", got)
			}
			continue
		}
		if string(got.Data) != tt.key || !got.ExpiresOn.Equal(tt.expires) {
			t.Errorf("%s: got %q expiring %v, want %v", tt.key, got.Data, got.ExpiresOn, tt.expires)
		}
	}
	now = now.Add(2 * time.Minute) // "soon" has expired
	keys, _ := s.Keys(ctx, "")
	if strings.Join(keys, ",") != "later,never" {
		t.Fatalf("Keys = %v", keys)
	}
	// An expired entry counts as absent: version 0 saves over it.
	if _, err := s.Save(ctx, "soon", core.Blob{Data: []byte("again")}); err != nil {
		t.Fatalf("save over an expired entry: %v", err)
	}
	// Compactions drop expired entries from the file; a write larger
	// than the log may grow to forces one.
	mustSave(t, s, "big", core.Blob{Data: make([]byte, compactFloor)})
	raw := readRaw(t, path)
	for _, b := range raw {
		if b.key == "past" {
			t.Errorf("expired %q still in the file", b.key)
		}
	}
	if len(raw) != 4 {
		t.Errorf("file holds %d entries, want 4", len(raw))
	}
}

// readRaw decodes the file at path with testKey, bypassing any Store.
func readRaw(t *testing.T, path string) []blob {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := newSealKey(testKey)
	_, blobs, err := decodeFile(data, &keyring{raw: sk})
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return blobs
}

func TestKeyForms(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.bin")
	w := openTest(t, path, keyOpts(testKeyB64))
	mustSave(t, w, "k", core.Blob{Data: []byte("v")})
	for name, key := range map[string]string{
		"raw":         string(testKey),
		"hex":         hex.EncodeToString(testKey),
		"base64 url":  base64.RawURLEncoding.EncodeToString(testKey),
		"with spaces": "  " + testKeyB64 + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			if got := mustLoad(t, openTest(t, path, keyOpts(key)), "k"); string(got.Data) != "v" {
				t.Fatalf("got %q", got.Data)
			}
		})
	}
	if _, err := Open(path, &Options{Key: core.NewSecret("short"), Passphrase: core.NewSecret("p")}); err == nil {
		t.Fatal("key and passphrase both accepted")
	}
	if _, err := Open(path, keyOpts("too-short")); err == nil || strings.Contains(err.Error(), "too-short") {
		t.Fatalf("bad key: err = %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "cache.bin")
	s := openTest(t, path, nil)
	mustSave(t, s, "k", core.Blob{Data: []byte("v")})
	keyPath := filepath.Join(dir, "sub", KeyFileName)
	b, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if _, err := store.ParseKey(core.NewSecret(string(b))); err != nil {
		t.Fatalf("key file content: %v", err)
	}
	// A second store finds the same key.
	if got := mustLoad(t, openTest(t, path, nil), "k"); string(got.Data) != "v" {
		t.Fatalf("second store reads %q", got.Data)
	}
	// The key file's content works as Options.Key (CREDHOST_CACHE_KEY).
	if got := mustLoad(t, openTest(t, path, keyOpts(string(b))), "k"); string(got.Data) != "v" {
		t.Fatalf("key file content as Key reads %q", got.Data)
	}
	// An explicit KeyFile elsewhere.
	other := filepath.Join(dir, "keys", "my.key")
	p2 := filepath.Join(dir, "two.bin")
	mustSave(t, openTest(t, p2, &Options{KeyFile: other}), "a", core.Blob{Data: []byte("b")})
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("explicit key file: %v", err)
	}
}

func TestPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	dir := filepath.Join(t.TempDir(), "credhost")
	path := filepath.Join(dir, "cache.bin")
	s := openTest(t, path, nil)
	mustSave(t, s, "k", core.Blob{Data: []byte("v")})
	for _, tt := range []struct {
		path string
		mode os.FileMode
	}{
		{dir, 0o700},
		{path, 0o600},
		{path + ".lock", 0o600},
		{filepath.Join(dir, KeyFileName), 0o600},
	} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tt.mode {
			t.Errorf("%s: mode %04o, want %04o", filepath.Base(tt.path), fi.Mode().Perm(), tt.mode)
		}
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}

	// A cache file others can read: a warning, and the next write fixes it.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	s2 := openTest(t, path, &Options{Log: logs.logger()})
	if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), "readable by other users") {
		t.Fatalf("no warning for a 0644 cache file: %s", logs.String())
	}
	mustSave(t, s2, "k2", core.Blob{})
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after write %04o", fi.Mode().Perm())
	}

	// A key file others can read is refused.
	keyPath := filepath.Join(dir, KeyFileName)
	if err := os.Chmod(keyPath, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, nil)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), keyPath) {
		t.Fatalf("0640 key file: err = %v", err)
	}
}

func TestWrongKey(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		write     *Options
		read      *Options
		keyFileRm bool
		wantIn    []string
	}{
		{"other key", keyOpts(testKeyB64), keyOpts(otherKey), false, []string{"different key", "CREDHOST_CACHE_KEY"}},
		{"other passphrase", &Options{Passphrase: core.NewSecret("right horse")}, &Options{Passphrase: core.NewSecret("wrong horse")}, false, []string{"different key than the configured passphrase"}},
		{"passphrase file, key configured", &Options{Passphrase: core.NewSecret("right horse")}, keyOpts(testKeyB64), false, []string{"encrypted with a passphrase"}},
		{"key file, passphrase configured", nil, &Options{Passphrase: core.NewSecret("right horse")}, false, []string{"encrypted with a key, but a passphrase"}},
		{"key file, other key configured", nil, keyOpts(otherKey), false, []string{"different key than the configured key"}},
		{"key file lost", nil, nil, true, []string{"key file", "does not exist but cache file", "delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "cache.bin")
			w := openTest(t, path, tt.write)
			mustSave(t, w, "k", core.Blob{Data: []byte("precious")})
			before, _ := os.ReadFile(path)
			if tt.keyFileRm {
				if err := os.Remove(filepath.Join(dir, KeyFileName)); err != nil {
					t.Fatal(err)
				}
			}

			var logs logBuffer
			opts := &Options{Log: logs.logger()}
			if tt.read != nil {
				o := *tt.read
				o.Log = logs.logger()
				opts = &o
			}
			var errs []error
			r, err := Open(path, opts)
			if err != nil {
				errs = append(errs, err)
			} else {
				_, err := r.Load(ctx, "k")
				errs = append(errs, err)
				_, err = r.Save(ctx, "k", core.Blob{Data: []byte("overwrite"), Version: 0})
				errs = append(errs, err)
				errs = append(errs, r.Delete(ctx, "k"))
				_, err = r.Keys(ctx, "")
				errs = append(errs, err)
			}
			for i, err := range errs {
				if !errors.Is(err, store.ErrWrongKey) {
					t.Fatalf("call %d: err = %v, want ErrWrongKey", i, err)
				}
				for _, s := range tt.wantIn {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("call %d: error %q lacks %q", i, err, s)
					}
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error does not name the file: %v", err)
				}
				for _, secret := range []string{testKeyB64, otherKey, "right horse", "wrong horse"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error text contains a secret: %v", err)
					}
				}
			}
			// The file is untouched and nothing was set aside.
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Fatal("the file changed")
			}
			if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 0 {
				t.Fatalf("file set aside: %v", m)
			}
			if logs.String() != "" {
				t.Fatalf("unexpected log: %s", logs.String())
			}
			// With the right key it is all still there.
			if tt.keyFileRm {
				return
			}
			if got := mustLoad(t, openTest(t, path, tt.write), "k"); string(got.Data) != "precious" {
				t.Fatalf("right key reads %q", got.Data)
			}
		})
	}
}

func TestDamagedFile(t *testing.T) {
	sk, _ := newSealKey(testKey)
	valid := encodeFile(&header{kdf: kdfKey}, sk, [nonceSize]byte{1}, 5, []blob{{key: "a", data: []byte("b"), version: 5}})
	flip := func(i int) []byte {
		b := bytes.Clone(valid)
		b[i] ^= 0x01
		return b
	}
	// A well-sealed payload that does not decode.
	badPayload := func() []byte {
		h := header{kdf: kdfKey, check: sk.check, size: headerSize(kdfKey)}
		buf := appendHeader(nil, &h)
		return sk.aead.Seal(buf, h.nonce[:], []byte{0x05, 0x09, 0xff}, buf)
	}()
	tests := []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("this is not a cache file at all, just text")},
		{"empty", nil},
		{"magic only", []byte(magic)},
		{"unknown version", append([]byte(magic), 9, 0)},
		{"header truncated", valid[:20]},
		{"ciphertext truncated", valid[:len(valid)-5]},
		{"ciphertext bit flipped", flip(len(valid) - 20)},
		{"nonce bit flipped", flip(headerSize(kdfKey) - 1)},
		{"payload does not decode", badPayload},
		{"argon2 params out of range", func() []byte {
			h := header{kdf: kdfArgon2id, params: store.KDFParams{Time: 1, MemoryKiB: 1 << 30, Threads: 1}, salt: make([]byte, store.SaltSize)}
			return append(appendHeader(nil, &h), make([]byte, 32)...)
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "cache.bin")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			var logs logBuffer
			s := openTest(t, path, &Options{Key: core.NewSecret(testKeyB64), Log: logs.logger()})
			got, err := s.Load(ctx, "a")
			if err != nil || got.Version != 0 || got.Data != nil {
				t.Fatalf("Load = %+v, %v; want empty", got, err)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("set aside: %v", aside)
			}
			if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, tt.data) {
				t.Fatal("the set-aside file differs from the damaged one")
			}
			if n := strings.Count(logs.String(), `"level":"warn"`); n != 1 {
				t.Fatalf("%d warnings, want 1: %s", n, logs.String())
			}
			if !strings.Contains(logs.String(), aside[0]) {
				t.Fatalf("warning does not name %s: %s", aside[0], logs.String())
			}
			// The store goes on: later calls neither warn again nor fail.
			mustSave(t, s, "a", core.Blob{Data: []byte("new")})
			if got := mustLoad(t, openTest(t, path, keyOpts(testKeyB64)), "a"); string(got.Data) != "new" {
				t.Fatalf("after recovery: %q", got.Data)
			}
			if n := strings.Count(logs.String(), `"level":"warn"`); n != 1 {
				t.Fatalf("%d warnings after recovery", n)
			}
		})
	}
}

func TestDamagedFileFoundBySave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.bin")
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	s := openTest(t, path, &Options{Key: core.NewSecret(testKeyB64), Log: logs.logger()})
	mustSave(t, s, "a", core.Blob{Data: []byte("x")})
	if n := strings.Count(logs.String(), "moved it aside"); n != 1 {
		t.Fatalf("%d warnings: %s", n, logs.String())
	}
	// A second damaged file in the same second gets its own name.
	if err := os.WriteFile(path, []byte("junk 2"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, s, "a")
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 2 {
		t.Fatalf("set aside: %v", aside)
	}
}

func TestPassphrase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.bin")
	opts := &Options{Passphrase: core.NewSecret("correct horse battery staple")}
	s := openTest(t, path, opts)
	mustSave(t, s, "a", core.Blob{Data: []byte("1")})
	h1 := fileHeader(t, path)
	if h1.kdf != kdfArgon2id || h1.params != kdfParams || len(h1.salt) != store.SaltSize {
		t.Fatalf("header %+v", h1)
	}
	mustSave(t, s, "b", core.Blob{Data: []byte("2")})
	if h := fileHeader(t, path); h.nonce != h1.nonce {
		t.Fatal("an append must keep the file's header")
	}
	mustSave(t, s, "big", core.Blob{Data: make([]byte, compactFloor)}) // compacts
	h2 := fileHeader(t, path)
	if !bytes.Equal(h1.salt, h2.salt) || h1.nonce == h2.nonce {
		t.Fatal("a compaction must keep the salt and change the nonce")
	}
	r := openTest(t, path, &Options{Passphrase: core.NewSecret("correct horse battery staple")})
	if got := mustLoad(t, r, "b"); string(got.Data) != "2" {
		t.Fatalf("got %q", got.Data)
	}
	// Files written with other parameters stay readable.
	old := kdfParams
	kdfParams = store.KDFParams{Time: 2, MemoryKiB: 128, Threads: 2}
	defer func() { kdfParams = old }()
	p2 := filepath.Join(t.TempDir(), "cache.bin")
	mustSave(t, openTest(t, p2, opts), "c", core.Blob{Data: []byte("3")})
	kdfParams = old
	if got := mustLoad(t, openTest(t, p2, opts), "c"); string(got.Data) != "3" {
		t.Fatalf("got %q", got.Data)
	}
	if fileHeader(t, p2).params.Threads != 2 {
		t.Fatal("parameters not recorded")
	}
}

func fileHeader(t *testing.T, path string) header {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestLoadReusesDecodedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.bin")
	a := openTest(t, path, keyOpts(testKeyB64))
	b := openTest(t, path, keyOpts(testKeyB64))
	mustSave(t, a, "k", core.Blob{Data: []byte("1")})

	start := decodes.Load()
	for range 10 {
		mustLoad(t, a, "k") // a wrote the file: no decode at all
	}
	if n := decodes.Load() - start; n != 0 {
		t.Fatalf("%d decodes for loads of the file a wrote", n)
	}
	mustLoad(t, b, "k")
	mustLoad(t, b, "k")
	if n := decodes.Load() - start; n != 1 {
		t.Fatalf("%d decodes for two loads by b, want 1", n)
	}
	// A change by another writer is seen at once, even with identical
	// size and (coarse) mtime.
	cur := mustLoad(t, b, "k")
	mustSave(t, b, "k", core.Blob{Data: []byte("2"), Version: cur.Version})
	if got := mustLoad(t, a, "k"); string(got.Data) != "2" {
		t.Fatalf("a sees %q after b's write", got.Data)
	}
}

func TestLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.bin")
	s := openTest(t, path, &Options{Key: core.NewSecret(testKeyB64), LockTimeout: 150 * time.Millisecond})
	mustSave(t, s, "k", core.Blob{})

	// Hold the lock through another open file description, as another
	// process would.
	f, err := os.OpenFile(path+".lock", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if busy, err := tryLock(f); busy || err != nil {
		t.Fatalf("tryLock: %v %v", busy, err)
	}
	start := time.Now()
	_, err = s.Save(context.Background(), "k2", core.Blob{})
	if err == nil {
		t.Fatal("Save succeeded while the lock was held")
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
	for _, want := range []string{path + ".lock", "within 150ms", "pid"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Reads need no lock.
	if _, err := s.Load(context.Background(), "k"); err != nil {
		t.Fatalf("Load while locked: %v", err)
	}
	// A cancelled context stops the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	s.lockTimeout = time.Minute
	if err := s.Delete(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Delete with expiring context: %v", err)
	}
	unlock(f)
	mustSave(t, s, "k2", core.Blob{})
}

func TestConcurrentGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.bin")
	a := openTest(t, path, keyOpts(testKeyB64))
	b := openTest(t, path, keyOpts(testKeyB64))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range 20 {
				// Everyone increments one shared counter too.
				if err := saveRetry(context.Background(), s, "g"+string(rune('a'+g))+string(rune('a'+i)), []byte{byte(i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	keys, err := b.Keys(context.Background(), "g")
	if err != nil || len(keys) != 160 {
		t.Fatalf("%d keys, %v", len(keys), err)
	}
}

func TestClosed(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "c"), keyOpts(testKeyB64))
	_ = s.Close()
	if _, err := s.Load(context.Background(), "k"); err == nil {
		t.Fatal("Load after Close")
	}
	if _, err := s.Save(context.Background(), "k", core.Blob{}); err == nil {
		t.Fatal("Save after Close")
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	const canary = "canary-passphrase-3f9a"
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.bin")
	var logs logBuffer
	var errs []string
	s := openTest(t, path, &Options{Passphrase: core.NewSecret(canary), Log: logs.logger()})
	mustSave(t, s, "k", core.Blob{Data: []byte("v")})
	_ = os.WriteFile(path, []byte("junk"), 0o644) // damaged and loose
	s2 := openTest(t, path, &Options{Passphrase: core.NewSecret(canary), Log: logs.logger()})
	mustLoad(t, s2, "k")
	mustSave(t, s2, "k", core.Blob{Data: []byte("v")})
	_, err := openTest(t, path, &Options{Key: core.NewSecret(testKeyB64), Log: logs.logger()}).Load(context.Background(), "k")
	errs = append(errs, err.Error())
	_, err = Open(path, &Options{Key: core.NewSecret(canary), Log: logs.logger()})
	errs = append(errs, err.Error())
	all := logs.String() + strings.Join(errs, "\n")
	for _, secret := range []string{canary, testKeyB64} {
		if strings.Contains(all, secret) {
			t.Fatalf("a secret leaked:\n%s", all)
		}
	}
}

// TestReadOnly: a read-only Store reads, never writes, and leaves a
// damaged file where it is for a writer to set aside.
func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.bin")
	w := openTest(t, path, &Options{Key: core.NewSecret(testKeyB64)})
	if _, err := w.Save(ctx, "k", core.Blob{Data: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	ro := openTest(t, path, &Options{Key: core.NewSecret(testKeyB64), ReadOnly: true})
	if b, err := ro.Load(ctx, "k"); err != nil || string(b.Data) != "v" {
		t.Fatalf("read-only Load = %q, %v", b.Data, err)
	}
	if _, err := ro.Save(ctx, "k2", core.Blob{Data: []byte("x")}); err == nil {
		t.Fatal("a read-only store saved")
	}
	if err := os.WriteFile(path, []byte("CHCACHE\n\x01\x00 damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Load(ctx, "k"); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("read-only Load of a damaged file: %v, want ErrDamaged", err)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
		t.Fatalf("a read-only store set the file aside: %v", aside)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "damaged") {
		t.Fatal("a read-only store changed the file")
	}
}
