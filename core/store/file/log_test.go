package file

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/credhost/credhost/core"
)

// TestMissWritesOnlyItsEntry: with many entries in the cache, a new entry
// grows the same file by about its own size; nothing else is rewritten.
func TestMissWritesOnlyItsEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.bin")
	s := openTest(t, path, keyOpts(testKeyB64))
	data := make([]byte, 1000)
	for i := range 200 {
		mustSave(t, s, string(rune('a'+i%26))+string(rune('0'+i/26)), core.Blob{Data: data})
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, "one more", core.Blob{Data: data})
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Fatal("a new entry replaced the file instead of appending to it")
	}
	if grew := after.Size() - before.Size(); grew < int64(len(data)) || grew > int64(len(data))+200 {
		t.Fatalf("the file grew by %d bytes for a %d-byte entry", grew, len(data))
	}
	if got := mustLoad(t, openTest(t, path, keyOpts(testKeyB64)), "one more"); len(got.Data) != len(data) {
		t.Fatalf("another store reads %d bytes", len(got.Data))
	}
}

// TestTornTail: bytes after the last complete frame (a writer that died
// mid-append) are not an entry and not damage; the next writer cuts them
// off and appends after the last good frame.
func TestTornTail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.bin")
	s := openTest(t, path, keyOpts(testKeyB64))
	mustSave(t, s, "a", core.Blob{Data: []byte("1")})
	mustSave(t, s, "b", core.Blob{Data: []byte("2")}) // a frame
	good, _ := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0, 0, 0, 60, 1, 2, 3, 4, 5}); err != nil { // a frame cut short
		t.Fatal(err)
	}
	_ = f.Close()

	var logs logBuffer
	r := openTest(t, path, &Options{Key: keyOpts(testKeyB64).Key, Log: logs.logger()})
	for k, want := range map[string]string{"a": "1", "b": "2"} {
		if got := mustLoad(t, r, k); string(got.Data) != want {
			t.Fatalf("%s = %q, want %q", k, got.Data, want)
		}
	}
	mustSave(t, r, "c", core.Blob{Data: []byte("3")})
	if logs.String() != "" {
		t.Fatalf("a torn tail was reported: %s", logs.String())
	}
	if raw := readRaw(t, path); len(raw) != 3 {
		t.Fatalf("file holds %d entries, want 3", len(raw))
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
		t.Fatalf("set aside: %v", aside)
	}
	if _, err := s.Load(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() <= good.Size() {
		t.Fatal("c was not appended")
	}
}

// TestMigratesVersion1: a cache file of format version 1 (no log) written
// by an older credhost is read as it is, also read-only (the fast front),
// and the first write turns it into version 2 with every entry kept.
func TestMigratesVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.bin")
	sk, _ := newSealKey(testKey)
	v1 := encodeFile(&header{version: formatNoLog, kdf: kdfKey}, sk, [nonceSize]byte{7}, 9,
		[]blob{{key: "a", data: []byte("1"), version: 3}, {key: "b", data: []byte("2"), version: 9}})
	if err := os.WriteFile(path, v1, 0o600); err != nil {
		t.Fatal(err)
	}
	ro := openTest(t, path, &Options{Key: keyOpts(testKeyB64).Key, ReadOnly: true})
	if got := mustLoad(t, ro, "b"); string(got.Data) != "2" || got.Version != 9 {
		t.Fatalf("read-only load of a version 1 file = %+v", got)
	}
	var logs logBuffer
	s := openTest(t, path, &Options{Key: keyOpts(testKeyB64).Key, Log: logs.logger()})
	if v := mustSave(t, s, "c", core.Blob{Data: []byte("3")}); v <= 9 {
		t.Fatalf("new version %d does not follow the file's 9", v)
	}
	if h := fileHeader(t, path); h.version != formatVersion {
		t.Fatalf("format after a write = %d", h.version)
	}
	if raw := readRaw(t, path); len(raw) != 3 {
		t.Fatalf("migrated file holds %d entries, want 3", len(raw))
	}
	if got := mustLoad(t, ro, "a"); string(got.Data) != "1" || got.Version != 3 {
		t.Fatalf("after migration a = %+v", got)
	}
	if logs.String() != "" {
		t.Fatalf("migration logged: %s", logs.String())
	}
}
