package file

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credhost/credhost/core"
)

// The test binary doubles as the helper processes of the multi-process
// tests: with helperEnv set, TestMain runs the named helper instead of the
// tests and exits.
const helperEnv = "CREDHOST_FILE_STORE_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		if err := runHelper(h); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperCmd returns a command that runs helper name with the given
// settings.
func helperCmd(t *testing.T, name string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + name}, env...)...)
	return cmd
}

func runHelper(name string) error {
	ctx := context.Background()
	path := os.Getenv("HELPER_PATH")
	opts := &Options{LockTimeout: time.Minute}
	if k := os.Getenv("HELPER_KEY"); k != "" {
		opts.Key = core.NewSecret(k)
	}
	s, err := Open(path, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	switch name {
	case "writer":
		// HELPER_ID writes HELPER_COUNT distinct entries, one Save each.
		id := os.Getenv("HELPER_ID")
		n, _ := strconv.Atoi(os.Getenv("HELPER_COUNT"))
		for i := range n {
			key := fmt.Sprintf("p%s-e%03d", id, i)
			if err := saveRetry(ctx, s, key, []byte("value of "+key)); err != nil {
				return err
			}
		}
		return nil
	case "churn":
		// Rewrite a few large entries forever, until killed. Entry j of
		// round i holds i in its first 8 bytes and byte(i) after.
		// Continue where earlier (killed) writers stopped: finish
		// their last round if they were cut off in the middle of it,
		// so that the file never holds more than two rounds.
		var newest, oldest uint64 = 0, ^uint64(0)
		for j := range churnEntries {
			b, err := s.Load(ctx, fmt.Sprintf("big-%d", j))
			if err != nil {
				return err
			}
			r := uint64(0)
			if b.Data != nil {
				if r, err = churnRound(b.Data); err != nil {
					return err
				}
			}
			newest, oldest = max(newest, r), min(oldest, r)
		}
		start := newest + 1
		if oldest < newest {
			start = newest
		}
		for i := start; ; i++ {
			for j := range churnEntries {
				key := fmt.Sprintf("big-%d", j)
				if err := saveRetry(ctx, s, key, churnBlob(i)); err != nil {
					return err
				}
				if i == start && j == 0 {
					fmt.Println("ready")
				}
			}
		}
	case "heap":
		// Load every entry, save one, and report memory.
		keys, err := s.Keys(ctx, "")
		if err != nil {
			return err
		}
		var total int
		for _, k := range keys {
			b, err := s.Load(ctx, k)
			if err != nil {
				return err
			}
			total += len(b.Data)
		}
		if err := saveRetry(ctx, s, "one-more", bytes.Repeat([]byte{'x'}, 2000)); err != nil {
			return err
		}
		if _, err := s.Load(ctx, keys[0]); err != nil {
			return err
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, hwm := procStatus("VmRSS"), procStatus("VmHWM")
		return json.NewEncoder(os.Stdout).Encode(heapReport{
			Entries: len(keys), DataBytes: total, HeapAlloc: ms.HeapAlloc, HeapSys: ms.HeapSys,
			VmRSSKiB: rss, VmHWMKiB: hwm,
		})
	}
	return fmt.Errorf("unknown helper %q", name)
}

const (
	churnEntries = 4
	churnSize    = 256 << 10
)

func churnBlob(i uint64) []byte {
	b := bytes.Repeat([]byte{byte(i)}, churnSize)
	binary.BigEndian.PutUint64(b, i)
	return b
}

// churnRound returns the round a churn blob was written in, or an error if
// it is not a complete blob.
func churnRound(b []byte) (uint64, error) {
	if len(b) != churnSize {
		return 0, fmt.Errorf("blob has %d bytes, want %d", len(b), churnSize)
	}
	i := binary.BigEndian.Uint64(b)
	if !bytes.Equal(b[8:], bytes.Repeat([]byte{byte(i)}, churnSize-8)) {
		return 0, fmt.Errorf("blob of round %d has mixed content", i)
	}
	return i, nil
}

type heapReport struct {
	Entries   int    `json:"entries"`
	DataBytes int    `json:"data_bytes"`
	HeapAlloc uint64 `json:"heap_alloc"`
	HeapSys   uint64 `json:"heap_sys"`
	VmRSSKiB  int    `json:"vm_rss_kib"`
	VmHWMKiB  int    `json:"vm_hwm_kib"`
}

// procStatus returns a kB field of /proc/self/status, 0 if unknown.
func procStatus(field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// saveRetry saves data under key, reloading on conflicts.
func saveRetry(ctx context.Context, s core.Store, key string, data []byte) error {
	for range 100 {
		cur, err := s.Load(ctx, key)
		if err != nil {
			return err
		}
		_, err = s.Save(ctx, key, core.Blob{Data: data, Version: cur.Version})
		if !errors.Is(err, core.ErrCacheConflict) {
			return err
		}
	}
	return fmt.Errorf("save %s: too many conflicts", key)
}
