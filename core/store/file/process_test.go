package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credhost/credhost/core"
)

// TestParallelProcesses: eight processes each save 50 distinct entries
// into one file at the same time; none may be lost. The processes also
// race to create the key file.
func TestParallelProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 8 processes")
	}
	const procs, each = 8, 50
	path := filepath.Join(t.TempDir(), "cache.bin")
	type result struct {
		id  int
		err error
		out []byte
	}
	results := make(chan result, procs)
	for p := range procs {
		cmd := helperCmd(t, "writer", "HELPER_PATH="+path, fmt.Sprintf("HELPER_ID=%d", p), fmt.Sprintf("HELPER_COUNT=%d", each))
		go func() {
			out, err := cmd.CombinedOutput()
			results <- result{p, err, out}
		}()
	}
	for range procs {
		r := <-results
		if r.err != nil {
			t.Errorf("process %d: %v\n%s", r.id, r.err, r.out)
		}
	}
	if t.Failed() {
		return
	}
	s := openTest(t, path, nil)
	keys, err := s.Keys(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != procs*each {
		t.Fatalf("%d entries after %d processes × %d saves, want %d", len(keys), procs, each, procs*each)
	}
	for p := range procs {
		for i := range each {
			key := fmt.Sprintf("p%d-e%03d", p, i)
			if got := mustLoad(t, s, key); string(got.Data) != "value of "+key {
				t.Fatalf("%s = %q", key, got.Data)
			}
		}
	}
}

// TestKillDuringWrite kills a writer with SIGKILL at random moments while
// it rewrites ~1 MB files in a loop; every time, the next reader must see
// a complete file, old or new, with no damage and no lost lock.
func TestKillDuringWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 30 processes")
	}
	if _, err := os.Stat("/proc/self"); err != nil && os.Getenv("CI") != "true" {
		t.Log("no /proc; kill timing is still random")
	}
	const rounds = 30
	path := filepath.Join(t.TempDir(), "cache.bin")
	var logs logBuffer
	var last uint64
	midWrite := 0
	for round := range rounds {
		cmd := helperCmd(t, "churn", "HELPER_PATH="+path, "HELPER_KEY="+testKeyB64)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan error, 1)
		go func() {
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err == nil && strings.TrimSpace(line) != "ready" {
				err = fmt.Errorf("helper said %q", line)
			}
			ready <- err
		}()
		select {
		case err := <-ready:
			if err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("round %d: %v\n%s", round, err, stderr.String())
			}
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("round %d: writer never got going\n%s", round, stderr.String())
		}
		time.Sleep(time.Duration(rand.N(40_000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var ee interface{ Sys() any }
		if !errors.As(err, &ee) {
			t.Fatalf("round %d: writer ended with %v before the kill\n%s", round, err, stderr.String())
		}
		if _, err := os.Stat(path + ".tmp"); err == nil {
			midWrite++
		}

		s, err := Open(path, &Options{Key: core.NewSecret(testKeyB64), Log: logs.logger(), LockTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var minRound, maxRound uint64 = ^uint64(0), 0
		for j := range churnEntries {
			b, err := s.Load(context.Background(), fmt.Sprintf("big-%d", j))
			if err != nil {
				t.Fatalf("round %d: read after kill: %v", round, err)
			}
			if b.Data == nil {
				if j == 0 {
					t.Fatalf("round %d: big-0 missing after the writer reported it saved", round)
				}
				continue
			}
			i, err := churnRound(b.Data)
			if err != nil {
				t.Fatalf("round %d: big-%d: %v", round, j, err)
			}
			minRound, maxRound = min(minRound, i), max(maxRound, i)
		}
		// Entries are written one at a time, so a file holds rounds i
		// and at most i-1; and nothing goes back in time.
		if maxRound-minRound > 1 || maxRound < last {
			t.Fatalf("round %d: file holds rounds %d..%d after %d", round, minRound, maxRound, last)
		}
		last = maxRound
		// The lock died with the writer.
		if _, err := s.Save(context.Background(), "probe", core.Blob{Data: []byte{byte(round)}, Version: mustLoad(t, s, "probe").Version}); err != nil {
			t.Fatalf("round %d: save after kill: %v", round, err)
		}
		_ = s.Close()
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 0 || logs.String() != "" {
		t.Fatalf("damage seen: %v %s", m, logs.String())
	}
	t.Logf("%d rounds, %d killed with a temporary file in flight, last round %d", rounds, midWrite, last)
}

// TestHeap10000Entries measures a fresh process that loads 10,000 cached
// tokens (~2 KB each) and saves one more. Only the Go heap is asserted,
// with a generous bound; RSS is reported.
func TestHeap10000Entries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 20 MB cache")
	}
	const n, size = 10_000, 2000
	path := filepath.Join(t.TempDir(), "cache.bin")
	// Build the file directly: 10,000 one-entry rewrites would measure the
	// disk, not the memory.
	blobs := make([]blob, 0, n)
	for i := range n {
		d := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		copy(d, fmt.Sprintf("token %d", i))
		blobs = append(blobs, blob{key: fmt.Sprintf("token|%05d", i), data: d, version: uint64(i + 1), expires: time.Now().Add(time.Hour).UnixNano()})
	}
	sk, _ := newSealKey(testKey)
	if err := os.WriteFile(path, encodeFile(&header{kdf: kdfKey}, sk, [nonceSize]byte{9}, n, blobs), 0o600); err != nil {
		t.Fatal(err)
	}
	blobs = nil

	out, err := helperCmd(t, "heap", "HELPER_PATH="+path, "HELPER_KEY="+testKeyB64).Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r heapReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("%d entries, %.1f MB of data: heap %.1f MB in use, %.1f MB from the OS; RSS %.1f MB, peak RSS %.1f MB%s",
		r.Entries, mb(uint64(r.DataBytes)), mb(r.HeapAlloc), mb(r.HeapSys), float64(r.VmRSSKiB)/1024, float64(r.VmHWMKiB)/1024, raceNote)
	if r.Entries != n {
		t.Fatalf("%d entries, want %d", r.Entries, n)
	}
	if r.HeapAlloc > 50<<20 {
		t.Fatalf("heap %d bytes after loading %d entries, want < 50 MB", r.HeapAlloc, n)
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
