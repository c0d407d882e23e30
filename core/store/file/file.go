// Package file is credhost's default token store: one encrypted file shared
// by every process of a user on one machine.
//
// The file is encrypted with XChaCha20-Poly1305 under a key from
// Options.Key (the host passes CREDHOST_CACHE_KEY or [cache] key), a
// passphrase (Argon2id), or a key file created on first use. Writers
// serialize on an advisory lock, catch up with the file, and append their
// one change as a log frame (compacting into a new file, replaced
// atomically, when the log outgrows the rest), so parallel processes never
// drop each other's entries, a write costs its own entry rather than the
// whole cache, and readers, who take no lock, never see a partial entry.
// See format.go for the file layout.
package file

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
)

// DefaultLockTimeout is how long a write waits for the lock by default.
const DefaultLockTimeout = 10 * time.Second

// KeyFileName is the key file's name beside the cache file.
const KeyFileName = "cache.key"

// DefaultPath returns the default cache file: <user cache dir>/credhost/cache.bin.
func DefaultPath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("file: no user cache directory: %w", err)
	}
	return filepath.Join(dir, "credhost", "cache.bin"), nil
}

// Options tunes a Store; nil means defaults. Set at most one of Key and
// Passphrase; with neither, the key file is used.
type Options struct {
	// Key is the 32-byte encryption key, given as 32 raw bytes, 64 hex
	// digits or the base64 of 32 bytes (see store.ParseKey). The host
	// fills it from CREDHOST_CACHE_KEY or [cache] key.
	Key core.Secret
	// KeyFile holds the key when neither Key nor Passphrase is set;
	// default cache.key beside the cache file. It is created with mode
	// 0600 and a random key on first use, but only while no cache file
	// exists (otherwise the cache was written with another key and the
	// store refuses to start rather than make it unreadable). A key file
	// that group or others can read is refused.
	KeyFile string
	// Passphrase derives the key with Argon2id; the salt and parameters
	// are stored in the file header. Each process pays one derivation
	// (tens of milliseconds) on its first access, so the key file is the
	// faster choice for the CLI.
	Passphrase core.Secret
	// LockTimeout bounds the wait for the write lock; default 10s.
	LockTimeout time.Duration
	// ReadOnly makes the Store never write: Save and Delete fail, and a
	// damaged file is reported (an error matching store.ErrDamaged)
	// instead of being set aside. For readers that hand anything unusual
	// to another process (the CLI's fast path), so that the warning and
	// the repair happen there, once.
	ReadOnly bool
	// Log receives one warning when a damaged file is set aside, and one
	// when the cache file is readable by others. The zero Logger logs
	// nothing.
	Log zerolog.Logger
}

// Store is an encrypted cache file. It implements core.Store and is safe
// for concurrent use by goroutines and by processes (on a local file
// system, or any that supports flock).
//
// Reads take no lock: writers only append whole frames to the file or
// replace it by rename, and readers stop at the first incomplete frame, so
// a reader sees a consistent state. The file's index (keys, versions,
// expiries, record positions) is decrypted once and kept in memory while
// the file is the same (same inode and nonce); frames appended since are
// read incrementally, so a Load costs a stat, two small reads, the frames
// that are new to this process and the decryption of one record. Entry data
// is not kept in memory. Writes (Save, Delete) take the lock, catch up with
// the log, check the entry's version and append one frame, synced. When
// the log is larger than the indexed part (and 256 KiB), the write instead
// compacts: a temporary file gets the new index, the live records copied
// as they are, and the new record; it is synced and renamed over the cache
// file. Expired and replaced entries are dropped on compaction, so the
// file stays within about twice its live size and n writes cost O(n)
// bytes in all.
//
// Versions are unique for the life of the file: each write takes the next
// value of a file-wide counter (at least the current time in
// microseconds), so an entry that expires and is written again never
// repeats a version a stale reader holds.
type Store struct {
	path, lockPath, tmpPath, dir string
	lockTimeout                  time.Duration
	readOnly                     bool
	log                          zerolog.Logger
	keys                         *keyring
	writer                       chan struct{} // in-process write lock
	now                          func() time.Time

	mu     sync.Mutex // guards cur and closed; held while reading the index
	cur    *current
	closed bool
}

// current is the file's index as last read or written by this Store. It
// changes only under Store.mu.
type current struct {
	id   fileID
	hdr  *header  // nil when the file does not exist
	key  *sealKey // the key of hdr
	ix   *index
	base int64 // where the indexed records end and the log starts
	end  int64 // where the last frame read or written ends
}

// fileID identifies one file: the nonce is fresh for every compaction, and
// a file is only ever appended to, so a match means the same content up
// to current.end.
type fileID struct {
	ino   uint64
	nonce [nonceSize]byte
}

// compactFloor is the log size below which writes never compact.
const compactFloor = 256 << 10

var (
	errClosed   = errors.New("file: store is closed")
	errReadOnly = errors.New("file: store was opened read-only")
)

// decodes counts index decodes, for tests.
var decodes atomic.Int64

// Open opens (and on first write creates) the cache file at path. It
// creates the directory with mode 0700, resolves the key (creating the key
// file if needed), and warns if the cache file is readable by others. It
// does not read the cache file.
func Open(path string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	if path == "" {
		return nil, errors.New("file: no cache file path")
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	s := &Store{
		path:        path,
		lockPath:    path + ".lock",
		tmpPath:     path + ".tmp",
		dir:         filepath.Dir(path),
		lockTimeout: opts.LockTimeout,
		readOnly:    opts.ReadOnly,
		log:         opts.Log,
		writer:      make(chan struct{}, 1),
		now:         time.Now,
	}
	if s.lockTimeout <= 0 {
		s.lockTimeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("file: create cache directory: %w", err)
	}
	if err := checkDir(s.dir); err != nil {
		return nil, err
	}
	switch {
	case !opts.Key.IsZero() && !opts.Passphrase.IsZero():
		return nil, errors.New("file: set a key or a passphrase, not both")
	case !opts.Passphrase.IsZero():
		s.keys = &keyring{pass: opts.Passphrase, source: "the configured passphrase"}
	case !opts.Key.IsZero():
		key, err := store.ParseKey(opts.Key)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		sk, err := newSealKey(key)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		s.keys = &keyring{raw: sk, source: "the configured key (CREDHOST_CACHE_KEY or [cache] key)"}
	default:
		keyFile := opts.KeyFile
		if keyFile == "" {
			keyFile = filepath.Join(s.dir, KeyFileName)
		}
		key, created, err := loadKeyFile(keyFile, path)
		if err != nil {
			return nil, err
		}
		if created {
			s.log.Debug().Str("key_file", keyFile).Msg("created cache key file")
		}
		sk, err := newSealKey(key)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		s.keys = &keyring{raw: sk, source: "the key in key file " + keyFile}
	}
	if fi, err := os.Stat(path); err == nil && loosePerms(fi) {
		s.log.Warn().Str("cache", path).Str("mode", fmt.Sprintf("%04o", fi.Mode().Perm())).
			Msg("cache file is readable by other users; it is encrypted, and the next write makes it 0600")
	}
	return s, nil
}

// OpenVerified is Open (path "" means DefaultPath) followed by a read of
// the file's index, so that a cache written with another key, or a path
// that is not a regular file, is a clear error now rather than every later
// call going to the IdP (and every interactive flow to the user) with
// warnings. (A damaged file is set aside, not an error.) The index stays decoded
// for the lookups that follow, so this costs nothing extra.
func OpenVerified(ctx context.Context, path string, opts *Options) (*Store, error) {
	if path == "" {
		p, err := DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	s, err := Open(path, opts)
	if err != nil {
		return nil, err
	}
	if _, err := s.Load(ctx, ""); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Path returns the cache file's absolute path.
func (s *Store) Path() string { return s.path }

// Load implements core.Cache. An absent or expired entry gives a zero
// Blob. A file encrypted with another key is an error matching
// store.ErrWrongKey; a damaged file is set aside (see Options.Log) and
// reads as empty.
func (s *Store) Load(ctx context.Context, key string) (core.Blob, error) {
	for attempt := 0; ; attempt++ {
		var r *record
		f, cur, err := s.open(ctx, func(cur *current) {
			r, _ = cur.ix.live(key, s.now().UnixNano())
		})
		if err != nil || f == nil {
			return core.Blob{}, err
		}
		if r == nil {
			_ = f.Close()
			return core.Blob{}, nil
		}
		sealed := make([]byte, r.size)
		_, err = f.ReadAt(sealed, r.off)
		_ = f.Close()
		if err != nil {
			return core.Blob{}, fmt.Errorf("file: read cache %s: %w", s.path, err)
		}
		data, err := cur.key.openRecord(r, sealed)
		if err == nil {
			return core.Blob{Data: data, Version: r.version, ExpiresOn: r.expiresOn()}, nil
		}
		if attempt > 0 || s.readOnly {
			return core.Blob{}, fmt.Errorf("file: read cache %s: %w", s.path, err)
		}
		if err := s.setAsideIf(ctx, cur.id, err); err != nil {
			return core.Blob{}, err
		}
	}
}

// Save implements core.Cache: it stores blob under key if the stored
// version (0 when absent or expired) equals blob.Version, and returns the
// new version; otherwise it returns core.ErrCacheConflict.
func (s *Store) Save(ctx context.Context, key string, blob core.Blob) (uint64, error) {
	if len(blob.Data) > maxRecordSize-minRecordSize {
		return 0, fmt.Errorf("file: entry %q is %d bytes, above the cache's %d-byte limit per entry", key, len(blob.Data), maxRecordSize-minRecordSize)
	}
	var version uint64
	err := s.update(ctx, func(ix *index, now time.Time) (*change, error) {
		var cur uint64
		if r, ok := ix.live(key, now.UnixNano()); ok {
			cur = r.version
		}
		if cur != blob.Version {
			return nil, core.ErrCacheConflict
		}
		version = nextGen(ix, now)
		return &change{drop: key, gen: version, put: &blob, putKey: key}, nil
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// Delete implements core.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.update(ctx, func(ix *index, now time.Time) (*change, error) {
		if _, ok := ix.byKey[key]; !ok {
			return nil, nil
		}
		return &change{drop: key, gen: nextGen(ix, now)}, nil
	})
}

// nextGen is the version of the next write: above every earlier one, and
// at least the time in microseconds, so that versions stay unique even
// when the file is deleted and created again.
func nextGen(ix *index, now time.Time) uint64 {
	return max(ix.gen+1, uint64(max(now.UnixMicro(), 0)))
}

// Keys implements core.Store; expired entries are left out.
func (s *Store) Keys(ctx context.Context, prefix string) ([]string, error) {
	now := s.now().UnixNano()
	var keys []string
	f, _, err := s.open(ctx, func(cur *current) {
		for k, r := range cur.ix.byKey {
			if strings.HasPrefix(k, prefix) && !r.expired(now) {
				keys = append(keys, k)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if f != nil {
		_ = f.Close()
	}
	slices.Sort(keys)
	return keys, nil
}

// Close implements core.Store: it drops the in-memory index. Later calls
// fail.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.cur = nil
	return nil
}

// open returns the open cache file (nil if there is none) and its index,
// without taking the lock, and calls use with the index while s.mu is held
// (the index changes as the log grows). A damaged file is set aside under
// the lock. The caller closes the file.
func (s *Store) open(ctx context.Context, use func(*current)) (*os.File, *current, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	f, cur, err := s.view(false)
	if err == nil {
		use(cur)
	}
	s.mu.Unlock()
	if err == nil || !isDamaged(err) || s.readOnly {
		return f, cur, err
	}
	// The locked view sets the damaged file aside.
	if err := s.update(ctx, func(*index, time.Time) (*change, error) { return nil, nil }); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, cur, err = s.view(false)
	if err == nil {
		use(cur)
	}
	return f, cur, err
}

// change is one write: drop the entry of key drop (if any) and add put
// under putKey, with version gen.
type change struct {
	drop   string
	put    *core.Blob
	putKey string
	gen    uint64
}

// update runs one read-modify-write under the lock. fn gets the current
// index and returns the change to write, or nil to write nothing.
func (s *Store) update(ctx context.Context, fn func(ix *index, now time.Time) (*change, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.readOnly {
		return errReadOnly
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	f, cur, err := s.view(true)
	if err != nil {
		return err
	}
	if f != nil {
		defer f.Close()
	}
	now := s.now()
	ch, err := fn(cur.ix, now)
	if err != nil || ch == nil {
		return err
	}
	return s.write(f, cur, ch, now)
}

// identify returns the identity of the open file f and its parsed header.
func identify(f *os.File) (fileID, int64, header, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, 0, header{}, err
	}
	id := fileID{ino: inode(fi)}
	var head [maxHeaderSize]byte
	n, err := f.ReadAt(head[:min(int64(len(head)), fi.Size())], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return id, fi.Size(), header{}, err
	}
	h, err := parseHeader(head[:n])
	if err == nil {
		id.nonce = h.nonce
	}
	return id, fi.Size(), h, err
}

// view opens the file and returns it with its index, decoding the index
// only when the file was replaced since the last view, and otherwise only
// the frames appended since. With locked set (the caller holds the write
// lock), a damaged file is moved aside and reads as empty; without it, the
// damage is returned. s.mu must be held.
func (s *Store) view(locked bool) (*os.File, *current, error) {
	if s.closed {
		return nil, nil, errClosed
	}
	f, err := openFile(s.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		s.cur = &current{ix: newIndex()}
		return nil, s.cur, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("file: read cache: %w", err)
	}
	id, size, h, err := identify(f)
	if err == nil {
		if c := s.cur; c != nil && c.hdr != nil && c.id == id && size >= c.end {
			if size > c.end && c.hdr.version == formatVersion {
				c.end = c.key.readFrames(f, c.hdr.nonce, c.end, size, c.ix)
			}
			return f, c, nil
		}
		err = func() error {
			end := int64(h.size) + int64(h.indexSize)
			if end > size {
				return damaged("index truncated")
			}
			buf := make([]byte, end)
			if _, err := f.ReadAt(buf, 0); err != nil {
				return fmt.Errorf("file: read cache: %w", err)
			}
			decodes.Add(1)
			h, k, ix, base, err := decodeHeadIndex(buf, size, s.keys)
			if err != nil {
				return err
			}
			c := &current{id: id, hdr: &h, key: k, ix: ix, base: base, end: base}
			if h.version == formatVersion {
				c.end = k.readFrames(f, h.nonce, base, size, ix)
			}
			s.cur = c
			return nil
		}()
		if err == nil {
			return f, s.cur, nil
		}
	}
	_ = f.Close()
	switch {
	case errors.Is(err, store.ErrWrongKey):
		return nil, nil, &wrongKeyError{path: s.path, using: s.keys.source, err: err}
	case !isDamaged(err):
		return nil, nil, fmt.Errorf("file: read cache %s: %w", s.path, err)
	case !locked:
		return nil, nil, err
	}
	if err := s.setAside(err); err != nil {
		return nil, nil, err
	}
	return nil, s.cur, nil
}

// setAsideIf sets the file aside if it is still the version id, which a
// reader found damaged. It takes the lock.
func (s *Store) setAsideIf(ctx context.Context, id fileID, reason error) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := openFile(s.path, os.O_RDONLY, 0)
	if err != nil {
		return nil // gone: nothing to set aside
	}
	now, _, _, err := identify(f)
	_ = f.Close()
	if err != nil || now != id {
		return nil // replaced meanwhile; the caller reads again
	}
	return s.setAside(reason)
}

// setAside renames the damaged file to <path>.corrupt-<UTC time>, logs one
// warning, and resets the in-memory index. The lock and s.mu are held.
func (s *Store) setAside(reason error) error {
	base := s.path + ".corrupt-" + s.now().UTC().Format("2006-01-02T15-04-05Z")
	aside := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s-%d", base, i)
	}
	if err := replaceFile(s.path, aside); err != nil {
		return fmt.Errorf("file: cache file %s is damaged (%v) and could not be moved aside: %w", s.path, reason, err)
	}
	syncDir(s.dir)
	s.log.Warn().Str("cache", s.path).Str("moved_to", aside).Str("reason", reason.Error()).
		Msg("cache file is damaged; moved it aside and starting with an empty cache")
	s.cur = &current{ix: newIndex()}
	return nil
}

// write applies ch: appended to the log as one frame, or, when there is
// no version 2 file yet or the log has outgrown the indexed part, by a
// compaction. The lock and s.mu are held.
func (s *Store) write(old *os.File, cur *current, ch *change, now time.Time) error {
	if cur.hdr == nil || cur.hdr.version != formatVersion {
		return s.compact(old, cur, ch, now)
	}
	var sealed []byte
	var exp int64
	if ch.put != nil {
		var nonce [nonceSize]byte
		if _, err := rand.Read(nonce[:]); err != nil {
			return fmt.Errorf("file: nonce: %w", err)
		}
		exp = expiresNano(ch.put.ExpiresOn)
		sealed = cur.key.sealRecord(nonce, ch.putKey, ch.gen, exp, ch.put.Data)
	}
	if cur.end-cur.base+int64(len(sealed)) > max(cur.base, compactFloor) {
		return s.compact(old, cur, ch, now)
	}
	return s.appendFrame(cur, ch, sealed, exp)
}

// appendFrame appends ch as one log frame (sealed: its sealed record, nil
// for a delete) at cur.end, cutting off first what a writer that died
// left after it. The lock and s.mu are held.
func (s *Store) appendFrame(cur *current, ch *change, sealed []byte, exp int64) error {
	key := ch.drop
	if ch.put != nil {
		key = ch.putKey
	}
	frame, err := cur.key.sealFrame(cur.hdr.nonce, cur.end, key, ch.gen, exp, sealed)
	if err != nil {
		return err
	}
	f, err := openFile(s.path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("file: write cache: %w", err)
	}
	err = func() error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if inode(fi) != cur.id.ino {
			return errors.New("the file was replaced while the lock was held; is another program writing it?")
		}
		if loosePerms(fi) {
			if err := f.Chmod(0o600); err != nil {
				return err
			}
		}
		if fi.Size() > cur.end {
			if err := f.Truncate(cur.end); err != nil {
				return err
			}
		}
		// No fsync: the frame is in the page cache for every process at
		// once, and a crash of the machine can only lose frames at the
		// end, which readers skip (they stop at the first frame that does
		// not authenticate) and the next writer cuts off. Losing the
		// last tokens of a cache to a power cut costs new requests, not
		// a broken cache; an fsync per token would cost ten times the
		// write. Compaction, which replaces the file, does sync.
		_, err = f.WriteAt(frame, cur.end)
		return err
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.cur = nil
		return fmt.Errorf("file: write cache %s: %w", s.path, err)
	}
	var r *record
	if ch.put != nil {
		r = &record{key: key, version: ch.gen, expires: exp, off: cur.end + int64(len(frame)-len(sealed)), size: int64(len(sealed))}
	}
	cur.ix.apply(key, ch.gen, r)
	cur.end += int64(len(frame))
	return nil
}

// compact replaces the file (old, nil if none) with the result of ch: a
// temporary file (mode 0600) gets the new header and index, the live
// records copied from old without decrypting them (copy_file_range where
// the kernel has it), and the new record; it is synced and renamed over
// the cache file, and the directory is synced. Expired and replaced
// entries are left out. Only the lock holder writes, so the temporary
// name is fixed and a leftover from a killed writer is simply replaced.
// The lock and s.mu are held.
func (s *Store) compact(old *os.File, cur *current, ch *change, now time.Time) error {
	h, sk, err := s.keys.headerForWrite(cur.hdr)
	if err != nil {
		return err
	}
	nowNano := now.UnixNano()
	type run struct{ off, size int64 }
	var runs []run
	recs := make([]*record, 0, len(cur.ix.byKey)+1)
	for _, r := range cur.ix.current() {
		if r.key == ch.drop || r.expired(nowNano) {
			continue
		}
		if n := len(runs); n > 0 && runs[n-1].off+runs[n-1].size == r.off {
			runs[n-1].size += r.size
		} else {
			runs = append(runs, run{r.off, r.size})
		}
		nr := *r
		recs = append(recs, &nr)
	}
	if len(recs) > 0 && sk.check != cur.key.check {
		return fmt.Errorf("file: internal error: the key changed while records remain")
	}
	var sealed []byte
	if ch.put != nil {
		var nonce [nonceSize]byte
		if _, err := rand.Read(nonce[:]); err != nil {
			return fmt.Errorf("file: nonce: %w", err)
		}
		exp := expiresNano(ch.put.ExpiresOn)
		sealed = sk.sealRecord(nonce, ch.putKey, ch.gen, exp, ch.put.Data)
		recs = append(recs, &record{key: ch.putKey, version: ch.gen, expires: exp, size: int64(len(sealed))})
	}
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("file: nonce: %w", err)
	}
	head := sealIndex(&h, sk, nonce, ch.gen, recs)

	if err := os.Remove(s.tmpPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file: remove stale temporary file: %w", err)
	}
	f, err := openFile(s.tmpPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("file: write cache: %w", err)
	}
	fi, err := func() (fs.FileInfo, error) {
		if _, err := f.Write(head); err != nil {
			return nil, err
		}
		for _, r := range runs {
			if _, err := old.Seek(r.off, io.SeekStart); err != nil {
				return nil, err
			}
			if _, err := io.CopyN(f, old, r.size); err != nil {
				return nil, fmt.Errorf("copy records: %w", err)
			}
		}
		if _, err := f.Write(sealed); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		return f.Stat()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = replaceFile(s.tmpPath, s.path)
	}
	if err != nil {
		_ = os.Remove(s.tmpPath)
		s.cur = nil
		return fmt.Errorf("file: write cache %s: %w", s.path, err)
	}
	syncDir(s.dir)
	ix := &index{gen: ch.gen, list: recs, byKey: make(map[string]*record, len(recs))}
	for _, r := range recs {
		ix.byKey[r.key] = r
	}
	h.version = formatVersion
	s.cur = &current{
		id:   fileID{ino: inode(fi), nonce: h.nonce},
		hdr:  &h,
		key:  sk,
		ix:   ix,
		base: fi.Size(),
		end:  fi.Size(),
	}
	return nil
}

// wrongKeyError reports a file encrypted with another key. It matches
// store.ErrWrongKey.
type wrongKeyError struct {
	path, using string
	err         error
}

func (e *wrongKeyError) Error() string {
	detail := ""
	if e.err != store.ErrWrongKey {
		detail = " (" + strings.TrimSuffix(e.err.Error(), ": "+store.ErrWrongKey.Error()) + ")"
	}
	return fmt.Sprintf("file: cache file %s was encrypted with a different key than %s%s; set CREDHOST_CACHE_KEY / the key file back, or delete the file to start over", e.path, e.using, detail)
}

func (e *wrongKeyError) Unwrap() error { return e.err }

var _ core.Store = (*Store)(nil)
