package file

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/credhost/credhost/core/store"
)

// The cache file, format version 2. Integers in the header are big endian.
//
//	magic       8  "CHCACHE\n"
//	version     1  2 (1: the same without a log; read, and rewritten as 2 by the next write)
//	kdf         1  0 = raw key (key file or CREDHOST_CACHE_KEY), 1 = Argon2id passphrase
//	[kdf = 1:   time 4 | memory KiB 4 | threads 1 | salt 16]
//	key check   8  store.KeyCheck(key): tells "other key" from "damaged"
//	nonce      24  random per write
//	index size  4  length of the sealed index, tag included
//	index          XChaCha20-Poly1305(index payload), AAD = the header bytes above
//	records        one sealed record per index entry, in index order
//	log            frames appended since the index was written (version 2)
//
// A record is nonce(24) | XChaCha20-Poly1305(data), with AAD
// "credhost cache entry v1" | uvarint len(key) | key | version (8) | expires (8),
// so that a record cannot be moved to another key or version, and so that
// writers copy unchanged records from the old file without decrypting them.
// Readers decrypt the small index once per file version and then only the
// record they need.
//
// The index payload is a sequence of unsigned varints (u) and byte strings
// (a uvarint length, then the bytes):
//
//	gen u | count u | count × (key bytes | version u | expires u | record size u)
//
// gen is the highest version issued in this file; every entry's version is
// in 1..gen. expires is Unix nanoseconds, 0 for "never". The record sizes
// add up to the start of the log (version 1: to the end of the file).
//
// The log makes a write cost its own entry, not the whole cache: a Save
// appends one frame
//
//	meta size  4  big endian
//	nonce     24
//	meta          XChaCha20-Poly1305(op(1) | key bytes | version u | expires u | record size u),
//	              AAD = "credhost cache log v2" | the header's nonce | the frame's offset (8)
//	record        as above (absent for a delete)
//
// op is 1 for a put, 2 for a delete; a frame's version is above every
// earlier one. The AAD ties a frame to this file and this position, so
// frames cannot be moved between files or reordered. Readers parse frames
// up to the first one that is incomplete or does not authenticate: that is
// a write in progress or a writer that died, and the next writer
// truncates it. When the log outgrows the indexed part, a writer compacts:
// it writes a new file (new nonce) with everything in the index and
// renames it over the old one, as every write did in version 1.
const (
	magic         = "CHCACHE\n"
	formatVersion = 2
	// formatNoLog is version 1: no log after the records. Read, and
	// rewritten as version 2 by the next write.
	formatNoLog = 1

	kdfKey      = 0
	kdfArgon2id = 1

	nonceSize     = chacha20poly1305.NonceSizeX
	tagSize       = chacha20poly1305.Overhead
	kdfParamsSize = 4 + 4 + 1 + store.SaltSize
	// maxHeaderSize is the longest header; readers fetch this much to
	// identify a file without reading the rest.
	maxHeaderSize = len(magic) + 2 + kdfParamsSize + store.CheckSize + nonceSize + 4
	// minRecordSize is a record with empty data.
	minRecordSize = nonceSize + tagSize
	// minIndexEntrySize is an index entry of four one-byte varints.
	minIndexEntrySize = 4

	recordAAD = "credhost cache entry v1"
	frameAAD  = "credhost cache log v2"

	opPut    = 1
	opDelete = 2
	// maxMetaSize caps a frame's sealed metadata (a key and three
	// numbers).
	maxMetaSize = 64 << 10

	// Lengths read from the file are checked against these caps (and the
	// file's real size) before anything is allocated, so that a damaged
	// or hostile file cannot make a reader allocate gigabytes. An index
	// entry is a key and three numbers (about 100 bytes), so the index cap
	// is far above any real cache; a record is one flow's state, which
	// the host caps at 16 MiB on the wire.
	maxIndexSize  = 16 << 20
	maxRecordSize = 64 << 20
)

// header is a parsed file header.
type header struct {
	version   byte // formatVersion or formatNoLog; writers always write formatVersion
	kdf       byte
	params    store.KDFParams // kdf == kdfArgon2id
	salt      []byte          // kdf == kdfArgon2id
	check     [store.CheckSize]byte
	nonce     [nonceSize]byte
	indexSize uint32
	size      int // encoded length of the header: the index's AAD is file[:size]
}

func headerSize(kdf byte) int {
	n := len(magic) + 2 + store.CheckSize + nonceSize + 4
	if kdf == kdfArgon2id {
		n += kdfParamsSize
	}
	return n
}

// parseHeader parses the header at the start of b. Errors wrap
// store.ErrDamaged.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < len(magic)+2 {
		return h, damaged("file too short (%d bytes)", len(b))
	}
	if string(b[:len(magic)]) != magic {
		return h, damaged("not a credhost cache file (bad magic)")
	}
	h.version = b[len(magic)]
	if h.version != formatVersion && h.version != formatNoLog {
		return h, damaged("unsupported format version %d", h.version)
	}
	h.kdf = b[len(magic)+1]
	if h.kdf != kdfKey && h.kdf != kdfArgon2id {
		return h, damaged("unknown key derivation %d", h.kdf)
	}
	h.size = headerSize(h.kdf)
	if len(b) < h.size {
		return h, damaged("header truncated (%d of %d bytes)", len(b), h.size)
	}
	p := b[len(magic)+2 : h.size]
	if h.kdf == kdfArgon2id {
		h.params = store.KDFParams{
			Time:      binary.BigEndian.Uint32(p[0:4]),
			MemoryKiB: binary.BigEndian.Uint32(p[4:8]),
			Threads:   p[8],
		}
		if err := h.params.Validate(); err != nil {
			return h, damaged("%v", err)
		}
		h.salt = append([]byte(nil), p[9:9+store.SaltSize]...)
		p = p[kdfParamsSize:]
	}
	copy(h.check[:], p)
	copy(h.nonce[:], p[store.CheckSize:])
	h.indexSize = binary.BigEndian.Uint32(p[store.CheckSize+nonceSize:])
	if h.indexSize < tagSize {
		return h, damaged("index size %d too small", h.indexSize)
	}
	if h.indexSize > maxIndexSize {
		return h, damaged("index size %d exceeds the %d-byte limit", h.indexSize, maxIndexSize)
	}
	return h, nil
}

// appendHeader appends the encoding of h.
func appendHeader(dst []byte, h *header) []byte {
	dst = append(dst, magic...)
	v := h.version
	if v == 0 {
		v = formatVersion
	}
	dst = append(dst, v, h.kdf)
	if h.kdf == kdfArgon2id {
		dst = binary.BigEndian.AppendUint32(dst, h.params.Time)
		dst = binary.BigEndian.AppendUint32(dst, h.params.MemoryKiB)
		dst = append(dst, h.params.Threads)
		dst = append(dst, h.salt...)
	}
	dst = append(dst, h.check[:]...)
	dst = append(dst, h.nonce[:]...)
	return binary.BigEndian.AppendUint32(dst, h.indexSize)
}

// record is one index entry: an entry's metadata and where its sealed
// record lies in the file.
type record struct {
	key     string
	version uint64
	expires int64 // Unix nanoseconds; 0 = never
	off     int64 // of the sealed record in the file
	size    int64 // of the sealed record
}

func (r *record) expired(now int64) bool { return r.expires != 0 && r.expires <= now }

func (r *record) expiresOn() time.Time {
	if r.expires == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.expires)
}

// expiresNano converts a Blob's ExpiresOn; times before 1970 count as
// already expired, times after 2262 as (practically) never.
func expiresNano(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Unix() <= 0:
		return 1
	case t.Unix() >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// index is a decoded index and log: the live entries by key, and every
// record in file order (list, where a replaced or deleted entry's record
// stays until the next compaction). Records are immutable; the index is
// changed only under Store.mu, as the log grows.
type index struct {
	gen   uint64
	list  []*record
	byKey map[string]*record
}

func newIndex() *index { return &index{byKey: map[string]*record{}} }

// apply records a put (r set) or a delete of key with version gen.
func (ix *index) apply(key string, gen uint64, r *record) {
	ix.gen = max(ix.gen, gen)
	if r == nil {
		delete(ix.byKey, key)
		return
	}
	ix.list = append(ix.list, r)
	ix.byKey[key] = r
}

// current returns the live records in file order.
func (ix *index) current() []*record {
	out := make([]*record, 0, len(ix.byKey))
	for _, r := range ix.list {
		if ix.byKey[r.key] == r {
			out = append(out, r)
		}
	}
	return out
}

// live returns key's record unless it is absent or expired.
func (ix *index) live(key string, now int64) (*record, bool) {
	r, ok := ix.byKey[key]
	if !ok || r.expired(now) {
		return nil, false
	}
	return r, true
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendIndex appends the index payload for recs, in order.
func appendIndex(dst []byte, gen uint64, recs []*record) []byte {
	n := uvarintLen(gen) + uvarintLen(uint64(len(recs)))
	for _, r := range recs {
		n += uvarintLen(uint64(len(r.key))) + len(r.key) + uvarintLen(r.version) + uvarintLen(uint64(r.expires)) + uvarintLen(uint64(r.size))
	}
	dst = slices.Grow(dst, n+tagSize)
	dst = binary.AppendUvarint(dst, gen)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for _, r := range recs {
		dst = binary.AppendUvarint(dst, uint64(len(r.key)))
		dst = append(dst, r.key...)
		dst = binary.AppendUvarint(dst, r.version)
		dst = binary.AppendUvarint(dst, uint64(r.expires))
		dst = binary.AppendUvarint(dst, uint64(r.size))
	}
	return dst
}

// decodeIndex decodes an index payload whose records start at offset
// start and end at or before end (exactly at end when exact is set: a
// version 1 file has no log). It returns the index and where the records
// end. Errors wrap store.ErrDamaged.
func decodeIndex(p []byte, start, end int64, exact bool) (*index, int64, error) {
	r := reader{b: p}
	gen := r.uvarint()
	count := r.uvarint()
	if r.err != nil {
		return nil, 0, r.err
	}
	if count > uint64(len(r.b))/minIndexEntrySize {
		return nil, 0, damaged("entry count %d exceeds the index", count)
	}
	ix := &index{gen: gen, list: make([]*record, 0, count), byKey: make(map[string]*record, count)}
	off := start
	for i := uint64(0); i < count; i++ {
		k := r.bytes()
		v := r.uvarint()
		x := r.uvarint()
		n := r.uvarint()
		switch {
		case r.err != nil:
			return nil, 0, r.err
		case v == 0 || v > gen:
			return nil, 0, damaged("entry %d: version %d outside 1..%d", i, v, gen)
		case x > math.MaxInt64:
			return nil, 0, damaged("entry %d: expiry out of range", i)
		case n < minRecordSize || n > uint64(end-off) || n > maxRecordSize:
			return nil, 0, damaged("entry %d: record size %d does not fit", i, n)
		}
		if _, dup := ix.byKey[string(k)]; dup {
			return nil, 0, damaged("entry %d: duplicate key", i)
		}
		rec := &record{key: string(k), version: v, expires: int64(x), off: off, size: int64(n)}
		ix.list = append(ix.list, rec)
		ix.byKey[rec.key] = rec
		off += int64(n)
	}
	if len(r.b) != 0 {
		return nil, 0, damaged("%d bytes after the last index entry", len(r.b))
	}
	if exact && off != end {
		return nil, 0, damaged("records end at %d, the file at %d", off, end)
	}
	return ix, off, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = damaged("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = damaged("length %d exceeds the remaining %d bytes", n, len(r.b))
		return nil
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}

// sealKey is a key ready for use.
type sealKey struct {
	aead  cipher.AEAD
	check [store.CheckSize]byte
}

func newSealKey(key []byte) (*sealKey, error) {
	aead, err := store.NewAEAD(key)
	if err != nil {
		return nil, err
	}
	return &sealKey{aead: aead, check: store.KeyCheck(key)}, nil
}

func recordAD(key string, version uint64, expires int64) []byte {
	ad := make([]byte, 0, len(recordAAD)+binary.MaxVarintLen64+len(key)+16)
	ad = append(ad, recordAAD...)
	ad = binary.AppendUvarint(ad, uint64(len(key)))
	ad = append(ad, key...)
	ad = binary.BigEndian.AppendUint64(ad, version)
	return binary.BigEndian.AppendUint64(ad, uint64(expires))
}

// sealRecord seals data as the record of (key, version, expires).
func (k *sealKey) sealRecord(nonce [nonceSize]byte, key string, version uint64, expires int64, data []byte) []byte {
	out := make([]byte, nonceSize, nonceSize+len(data)+tagSize)
	copy(out, nonce[:])
	return k.aead.Seal(out, nonce[:], data, recordAD(key, version, expires))
}

// openRecord opens the sealed record of r. Errors wrap store.ErrDamaged.
func (k *sealKey) openRecord(r *record, sealed []byte) ([]byte, error) {
	if int64(len(sealed)) != r.size || len(sealed) < minRecordSize {
		return nil, damaged("record of %d bytes, want %d", len(sealed), r.size)
	}
	data, err := k.aead.Open(sealed[nonceSize:nonceSize], sealed[:nonceSize], sealed[nonceSize:], recordAD(r.key, r.version, r.expires))
	if err != nil {
		return nil, damaged("a record does not authenticate although the key matches: the file was altered")
	}
	return data, nil
}

// keySource gives the key for a parsed header. It returns an error
// wrapping store.ErrWrongKey when the header asks for a kind of key it does
// not have (a passphrase file, but a key is configured).
type keySource interface {
	keyFor(h *header) (*sealKey, error)
}

// decodeHeadIndex decodes the header and index at the start of b, a file
// of fileSize bytes (b may hold just the header and index). It returns
// where the indexed records end (the log's start). Errors wrap
// store.ErrDamaged or store.ErrWrongKey.
func decodeHeadIndex(b []byte, fileSize int64, ks keySource) (header, *sealKey, *index, int64, error) {
	h, err := parseHeader(b)
	if err != nil {
		return h, nil, nil, 0, err
	}
	k, err := ks.keyFor(&h)
	if err != nil {
		return h, nil, nil, 0, err
	}
	if k.check != h.check {
		return h, nil, nil, 0, store.ErrWrongKey
	}
	start := int64(h.size) + int64(h.indexSize)
	if start > fileSize || int64(len(b)) < start {
		return h, nil, nil, 0, damaged("index truncated")
	}
	pt, err := k.aead.Open(nil, h.nonce[:], b[h.size:start], b[:h.size])
	if err != nil {
		return h, nil, nil, 0, damaged("the index does not authenticate although the key matches: the file was altered or truncated")
	}
	ix, end, err := decodeIndex(pt, start, fileSize, h.version == formatNoLog)
	if err != nil {
		return h, nil, nil, 0, err
	}
	return h, k, ix, end, nil
}

func frameAD(fileNonce [nonceSize]byte, off int64) []byte {
	ad := make([]byte, 0, len(frameAAD)+nonceSize+8)
	ad = append(ad, frameAAD...)
	ad = append(ad, fileNonce[:]...)
	return binary.BigEndian.AppendUint64(ad, uint64(off))
}

// sealFrame returns the log frame at offset off of a file with header
// nonce fileNonce: a put of record (the sealed record, with its key,
// version and expiry) or, with record nil, a delete of key at version.
func (k *sealKey) sealFrame(fileNonce [nonceSize]byte, off int64, key string, version uint64, expires int64, record []byte) ([]byte, error) {
	op := byte(opPut)
	if record == nil {
		op = opDelete
	}
	meta := []byte{op}
	meta = binary.AppendUvarint(meta, uint64(len(key)))
	meta = append(meta, key...)
	meta = binary.AppendUvarint(meta, version)
	meta = binary.AppendUvarint(meta, uint64(expires))
	meta = binary.AppendUvarint(meta, uint64(len(record)))
	out := make([]byte, 4+nonceSize, 4+nonceSize+len(meta)+tagSize+len(record))
	if _, err := rand.Read(out[4 : 4+nonceSize]); err != nil {
		return nil, fmt.Errorf("file: nonce: %w", err)
	}
	out = k.aead.Seal(out, out[4:4+nonceSize], meta, frameAD(fileNonce, off))
	binary.BigEndian.PutUint32(out, uint32(len(out)-4-nonceSize))
	return append(out, record...), nil
}

// readFrames applies the log frames of f between from and size to ix and
// returns where the last complete frame ends. It stops at the first frame
// that is incomplete, does not authenticate or does not parse (a write in
// progress, or a writer that died); nothing it reads is trusted for an
// allocation beyond the caps and the file's size.
func (k *sealKey) readFrames(f io.ReaderAt, fileNonce [nonceSize]byte, from, size int64, ix *index) int64 {
	off := from
	var head [4 + nonceSize]byte
	for off+int64(len(head)) <= size {
		if _, err := f.ReadAt(head[:], off); err != nil {
			return off
		}
		n := int64(binary.BigEndian.Uint32(head[:4]))
		metaEnd := off + int64(len(head)) + n
		if n < tagSize || n > maxMetaSize || metaEnd > size {
			return off
		}
		sealed := make([]byte, n)
		if _, err := f.ReadAt(sealed, off+int64(len(head))); err != nil {
			return off
		}
		meta, err := k.aead.Open(sealed[:0], head[4:], sealed, frameAD(fileNonce, off))
		if err != nil || len(meta) < 1 {
			return off
		}
		r := reader{b: meta[1:]}
		key := r.bytes()
		v, x, rs := r.uvarint(), r.uvarint(), r.uvarint()
		switch {
		case r.err != nil || len(r.b) != 0 || v <= ix.gen || x > math.MaxInt64:
			return off
		case meta[0] == opDelete && rs == 0:
			ix.apply(string(key), v, nil)
			off = metaEnd
		case meta[0] == opPut && rs >= minRecordSize && rs <= maxRecordSize && rs <= uint64(size-metaEnd):
			ix.apply(string(key), v, &record{key: string(key), version: v, expires: int64(x), off: metaEnd, size: int64(rs)})
			off = metaEnd + int64(rs)
		default:
			return off
		}
	}
	return off
}

// sealIndex fills in h (check, nonce, index size) and returns the header
// and sealed index for recs, whose offsets it sets.
func sealIndex(h *header, k *sealKey, nonce [nonceSize]byte, gen uint64, recs []*record) []byte {
	h.check = k.check
	h.nonce = nonce
	h.size = headerSize(h.kdf)
	pt := appendIndex(nil, gen, recs)
	h.indexSize = uint32(len(pt) + tagSize)
	buf := appendHeader(make([]byte, 0, h.size+len(pt)+tagSize), h)
	buf = k.aead.Seal(buf, h.nonce[:], pt, buf)
	off := int64(len(buf))
	for _, r := range recs {
		r.off = off
		off += r.size
	}
	return buf
}

// blob is an entry with its data, for building whole files in memory.
type blob struct {
	key     string
	data    []byte
	version uint64
	expires int64
}

// encodeFile builds a whole file in memory (tests and fuzzing; the Store
// writes files incrementally, with the same pieces).
func encodeFile(h *header, k *sealKey, nonce [nonceSize]byte, gen uint64, blobs []blob) []byte {
	recs := make([]*record, len(blobs))
	sealed := make([][]byte, len(blobs))
	for i, b := range blobs {
		var n [nonceSize]byte
		_, _ = rand.Read(n[:])
		sealed[i] = k.sealRecord(n, b.key, b.version, b.expires, b.data)
		recs[i] = &record{key: b.key, version: b.version, expires: b.expires, size: int64(len(sealed[i]))}
	}
	out := sealIndex(h, k, nonce, gen, recs)
	for _, s := range sealed {
		out = append(out, s...)
	}
	return out
}

// decodeFile decodes a whole file in memory, opening every record (tests
// and fuzzing).
func decodeFile(data []byte, ks keySource) (uint64, []blob, error) {
	h, k, ix, end, err := decodeHeadIndex(data, int64(len(data)), ks)
	if err != nil {
		return 0, nil, err
	}
	k.readFrames(bytes.NewReader(data), h.nonce, end, int64(len(data)), ix)
	out := make([]blob, 0, len(ix.byKey))
	for _, r := range ix.current() {
		d, err := k.openRecord(r, data[r.off:r.off+r.size])
		if err != nil {
			return 0, nil, err
		}
		out = append(out, blob{key: r.key, data: d, version: r.version, expires: r.expires})
	}
	return ix.gen, out, nil
}

func damaged(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrDamaged)
}

func isDamaged(err error) bool { return errors.Is(err, store.ErrDamaged) }
