package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/credhost/credhost/core/store"
)

// FuzzDecodeFile: any bytes in place of the cache file (a truncated
// write, another program's file, an attacker with write access) decode to
// entries or to an error that is ErrDamaged or ErrWrongKey, never a panic.
func FuzzDecodeFile(f *testing.F) {
	sk, _ := newSealKey(testKey)
	valid := encodeFile(&header{kdf: kdfKey}, sk, [nonceSize]byte{1}, 7,
		[]blob{{key: "token|p|x", data: []byte("data"), version: 3, expires: 1}, {key: "state|p", data: nil, version: 7}})
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(valid[:headerSize(kdfKey)])
	f.Add([]byte(magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, blobs, err := decodeFile(data, &keyring{raw: sk})
		if err != nil {
			if !errors.Is(err, store.ErrDamaged) && !errors.Is(err, store.ErrWrongKey) {
				t.Fatalf("error %v is neither damaged nor wrong key", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, b := range blobs {
			if seen[b.key] {
				t.Fatalf("duplicate key %q decoded", b.key)
			}
			seen[b.key] = true
		}
	})
}

// FuzzDecodeSealedIndex: an index that authenticates (written by a buggy
// or hostile holder of the key) but holds anything: counts, lengths,
// versions and record sizes that do not fit are ErrDamaged, never a panic
// or an out-of-range read of the records after it.
func FuzzDecodeSealedIndex(f *testing.F) {
	sk, _ := newSealKey(testKey)
	f.Add(appendIndex(nil, 5, []*record{{key: "a", version: 5, size: minRecordSize}}), make([]byte, minRecordSize))
	f.Add(appendIndex(nil, 1, nil), []byte{})
	f.Add([]byte{0x05, 0x09, 0xff}, []byte{1, 2, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}, []byte{})
	f.Fuzz(func(t *testing.T, pt, records []byte) {
		h := header{kdf: kdfKey, check: sk.check, size: headerSize(kdfKey)}
		h.indexSize = uint32(len(pt) + tagSize)
		buf := appendHeader(nil, &h)
		buf = sk.aead.Seal(buf, h.nonce[:], pt, buf)
		buf = append(buf, records...)
		_, _, err := decodeFile(buf, &keyring{raw: sk})
		if err != nil && !errors.Is(err, store.ErrDamaged) {
			t.Fatalf("error %v is not ErrDamaged", err)
		}
	})
}

// FuzzReadFrames: log frames whose metadata authenticates (a buggy or
// hostile holder of the key) but holds anything: readFrames stops at the
// first frame that does not fit, never panics, never reads past the file
// and never allocates beyond the caps.
func FuzzReadFrames(f *testing.F) {
	sk, _ := newSealKey(testKey)
	f.Add([]byte{opPut, 1, 'k', 9, 0, byte(minRecordSize)}, make([]byte, minRecordSize), uint32(0))
	f.Add([]byte{opDelete, 1, 'k', 9, 0, 0}, []byte{}, uint32(0))
	f.Add([]byte{opPut, 1, 'k', 9, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, []byte{1, 2}, uint32(1<<31))
	f.Fuzz(func(t *testing.T, meta, rest []byte, lenOverride uint32) {
		var fileNonce [nonceSize]byte
		frame := make([]byte, 4+nonceSize)
		frame = sk.aead.Seal(frame, frame[4:4+nonceSize], meta, frameAD(fileNonce, 0))
		n := uint32(len(frame) - 4 - nonceSize)
		if lenOverride != 0 {
			n = lenOverride
		}
		binary.BigEndian.PutUint32(frame, n)
		data := append(frame, rest...)
		ix := newIndex()
		end := sk.readFrames(bytes.NewReader(data), fileNonce, 0, int64(len(data)), ix)
		if end < 0 || end > int64(len(data)) {
			t.Fatalf("readFrames ended at %d of %d bytes", end, len(data))
		}
		for _, r := range ix.byKey {
			if r.off+r.size > int64(len(data)) {
				t.Fatalf("record %+v reaches past the file (%d bytes)", r, len(data))
			}
		}
	})
}
