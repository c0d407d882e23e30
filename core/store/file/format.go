package file

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/credhost/credhost/core/store"
)

// The cache file, format version 1. Integers in the header are big endian.
//
//	magic       8  "CHCACHE\n"
//	version     1  1
//	kdf         1  0 = raw key (key file or CREDHOST_CACHE_KEY), 1 = Argon2id passphrase
//	[kdf = 1:   time 4 | memory KiB 4 | threads 1 | salt 16]
//	key check   8  store.KeyCheck(key): tells "other key" from "damaged"
//	nonce      24  random per write
//	index size  4  length of the sealed index, tag included
//	index          XChaCha20-Poly1305(index payload), AAD = the header bytes above
//	records        one sealed record per index entry, in index order
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
// add up to the rest of the file exactly.
const (
	magic         = "CHCACHE\n"
	formatVersion = 1

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
	if v := b[len(magic)]; v != formatVersion {
		return h, damaged("unsupported format version %d", v)
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
	dst = append(dst, formatVersion, h.kdf)
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

// index is a decoded index: the entries in file order and by key. Indexes
// are immutable once decoded.
type index struct {
	gen   uint64
	list  []*record
	byKey map[string]*record
}

var emptyIndex = &index{byKey: map[string]*record{}}

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
// start and must end exactly at end. Errors wrap store.ErrDamaged.
func decodeIndex(p []byte, start, end int64) (*index, error) {
	r := reader{b: p}
	gen := r.uvarint()
	count := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	if count > uint64(len(r.b))/minIndexEntrySize {
		return nil, damaged("entry count %d exceeds the index", count)
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
			return nil, r.err
		case v == 0 || v > gen:
			return nil, damaged("entry %d: version %d outside 1..%d", i, v, gen)
		case x > math.MaxInt64:
			return nil, damaged("entry %d: expiry out of range", i)
		case n < minRecordSize || n > uint64(end-off) || n > maxRecordSize:
			return nil, damaged("entry %d: record size %d does not fit", i, n)
		}
		if _, dup := ix.byKey[string(k)]; dup {
			return nil, damaged("entry %d: duplicate key", i)
		}
		rec := &record{key: string(k), version: v, expires: int64(x), off: off, size: int64(n)}
		ix.list = append(ix.list, rec)
		ix.byKey[rec.key] = rec
		off += int64(n)
	}
	if len(r.b) != 0 {
		return nil, damaged("%d bytes after the last index entry", len(r.b))
	}
	if off != end {
		return nil, damaged("records end at %d, the file at %d", off, end)
	}
	return ix, nil
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
// of fileSize bytes (b may hold just the header and index). Errors wrap
// store.ErrDamaged or store.ErrWrongKey.
func decodeHeadIndex(b []byte, fileSize int64, ks keySource) (header, *sealKey, *index, error) {
	h, err := parseHeader(b)
	if err != nil {
		return h, nil, nil, err
	}
	k, err := ks.keyFor(&h)
	if err != nil {
		return h, nil, nil, err
	}
	if k.check != h.check {
		return h, nil, nil, store.ErrWrongKey
	}
	start := int64(h.size) + int64(h.indexSize)
	if start > fileSize || int64(len(b)) < start {
		return h, nil, nil, damaged("index truncated")
	}
	pt, err := k.aead.Open(nil, h.nonce[:], b[h.size:start], b[:h.size])
	if err != nil {
		return h, nil, nil, damaged("the index does not authenticate although the key matches: the file was altered or truncated")
	}
	ix, err := decodeIndex(pt, start, fileSize)
	if err != nil {
		return h, nil, nil, err
	}
	return h, k, ix, nil
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
	_, k, ix, err := decodeHeadIndex(data, int64(len(data)), ks)
	if err != nil {
		return 0, nil, err
	}
	out := make([]blob, 0, len(ix.list))
	for _, r := range ix.list {
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
