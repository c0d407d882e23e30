package redis

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
)

// payloadFormat is the first byte of a payload. A payload is
//
//	format(1) | version(8, big endian) | expires(8, Unix ns, 0: none) | data
//
// and is stored sealed (store.Cipher) with the Redis key name as
// associated data.
const payloadFormat = 1

const payloadHeader = 1 + 8 + 8

func encodePayload(version uint64, expires time.Time, data []byte) []byte {
	p := make([]byte, payloadHeader, payloadHeader+len(data))
	p[0] = payloadFormat
	binary.BigEndian.PutUint64(p[1:9], version)
	if !expires.IsZero() {
		binary.BigEndian.PutUint64(p[9:17], uint64(expires.UnixNano()))
	}
	return append(p, data...)
}

// openEntry decrypts the fields v and d of the entry stored under rkey.
// It returns an error matching store.ErrWrongKey or store.ErrDamaged.
func (s *Store) openEntry(rkey, v, d string) (core.Blob, error) {
	p, err := s.cipher.Open([]byte(d), []byte(rkey))
	if err != nil {
		return core.Blob{}, err
	}
	if len(p) < payloadHeader || p[0] != payloadFormat {
		return core.Blob{}, fmt.Errorf("unknown payload format: %w", store.ErrDamaged)
	}
	version := binary.BigEndian.Uint64(p[1:9])
	// v is what the scripts compare; it must be the sealed version.
	if strconv.FormatUint(version, 10) != v {
		return core.Blob{}, fmt.Errorf("version field does not match the sealed version: %w", store.ErrDamaged)
	}
	b := core.Blob{Data: p[payloadHeader:], Version: version}
	if ns := int64(binary.BigEndian.Uint64(p[9:17])); ns != 0 {
		b.ExpiresOn = time.Unix(0, ns)
	}
	return b, nil
}

// globEscape quotes the SCAN MATCH metacharacters in s.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Lua numbers are doubles: versions (microseconds since 1970, about 2^51)
// are exact well past this century, and are formatted with %.0f because
// Lua would print large numbers in exponent notation.

// reserveScript returns the next version for entry KEYS[1]: above the
// entry's current one and at least the server time in microseconds, so
// versions stay unique and increasing per key even after the entry
// expired or was deleted. It touches only KEYS[1] (one cluster slot); the
// save that follows compares, so two writers reserving the same version
// still make one winner.
var reserveScript = goredis.NewScript(`
local t = redis.call('TIME')
local n = tonumber(t[1]) * 1000000 + tonumber(t[2])
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
  local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '')
  if v and v < 2^53 then n = math.max(n, v + 1) end -- a tampered v is damage, found by Load
end
return string.format('%.0f', n)
`)

// saveScript stores version ARGV[2] and sealed payload ARGV[3] in KEYS[1]
// if its version still is ARGV[1] ('0': absent), expiring at ARGV[4] (Unix
// ms; '0': never). A value that is not a hash is damaged and counts as
// absent. It returns 1 if it stored, 0 on a conflict.
var saveScript = goredis.NewScript(`
local cur = '0'
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
  cur = redis.call('HGET', KEYS[1], 'v') or '0'
end
if cur ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
if ARGV[4] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[4]) end
return 1
`)

// discardScript deletes KEYS[1] if it still holds the damaged value a
// reader saw: a value that is not a hash when ARGV[1] is '1', else a hash
// with fields v = ARGV[2] and d = ARGV[3]. Comparing first means a value
// rewritten meanwhile survives. It returns 1 if it deleted.
var discardScript = goredis.NewScript(`
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' or (ARGV[1] == '1') == (t == 'hash') then return 0 end
if t == 'hash' and ((redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[2] or
    (redis.call('HGET', KEYS[1], 'd') or '') ~= ARGV[3]) then return 0 end
return redis.call('DEL', KEYS[1])
`)
