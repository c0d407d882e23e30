package redis

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/credhost/credhost/core/store"
)

// FuzzOpenEntry: a Redis entry that authenticates (sealed with the right
// key under its own name) but holds any payload, and any version field,
// opens or is ErrDamaged, never a panic; an opened entry's version is the
// version field's. Entries that do not authenticate are refused by the
// AEAD before any decoding (store.Cipher has its own tests).
func FuzzOpenEntry(f *testing.F) {
	key, err := store.GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := store.ParseKey(key)
	c, err := store.NewCipher(raw)
	if err != nil {
		f.Fatal(err)
	}
	s := &Store{cipher: c}
	f.Add(encodePayload(3, time.Unix(1_700_000_000, 0), []byte("blob")), "3")
	f.Add(encodePayload(1, time.Time{}, nil), "1")
	f.Add([]byte{payloadFormat}, "0")
	f.Add([]byte{9, 0, 0}, "")
	f.Fuzz(func(t *testing.T, payload []byte, v string) {
		const rkey = "credhost:token|p|x"
		sealed, err := c.Seal(payload, []byte(rkey))
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.openEntry(rkey, v, string(sealed))
		if err != nil {
			if !errors.Is(err, store.ErrDamaged) {
				t.Fatalf("error %v is not ErrDamaged", err)
			}
			return
		}
		if strconv.FormatUint(b.Version, 10) != v {
			t.Fatalf("opened version %d, field %q", b.Version, v)
		}
		// The same bytes under another name do not open.
		if _, err := s.openEntry(rkey+"2", v, string(sealed)); err == nil {
			t.Fatal("an entry opened under another key name")
		}
	})
}
