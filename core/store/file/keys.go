package file

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/core/store"
)

// kdfParams is the Argon2id setting for new passphrase files; tests lower
// it.
var kdfParams = store.DefaultKDFParams

// keyring holds the configured key material: either a raw key (from
// Options.Key or the key file) or a passphrase, whose derived keys are
// cached per salt so that a process pays for Argon2id once.
type keyring struct {
	raw  *sealKey    // kdf == kdfKey
	pass core.Secret // kdf == kdfArgon2id
	// source names the key for error messages ("key file /x/cache.key").
	source string

	mu      sync.Mutex
	derived map[string]*sealKey // by salt and parameters
}

func (k *keyring) kdf() byte {
	if k.raw != nil {
		return kdfKey
	}
	return kdfArgon2id
}

func (k *keyring) keyFor(h *header) (*sealKey, error) {
	switch {
	case h.kdf == kdfKey && k.raw != nil:
		return k.raw, nil
	case h.kdf == kdfKey:
		return nil, fmt.Errorf("it was encrypted with a key, but a passphrase is configured: %w", store.ErrWrongKey)
	case k.raw != nil:
		return nil, fmt.Errorf("it was encrypted with a passphrase, but a key is configured: %w", store.ErrWrongKey)
	}
	id := string(h.salt) + "|" + strconv.FormatUint(uint64(h.params.Time), 10) + "|" +
		strconv.FormatUint(uint64(h.params.MemoryKiB), 10) + "|" + strconv.Itoa(int(h.params.Threads))
	k.mu.Lock()
	defer k.mu.Unlock()
	if sk := k.derived[id]; sk != nil {
		return sk, nil
	}
	key, err := store.DeriveKey(k.pass, h.salt, h.params)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	sk, err := newSealKey(key)
	if err != nil {
		return nil, err
	}
	if k.derived == nil || len(k.derived) >= 4 {
		k.derived = map[string]*sealKey{}
	}
	k.derived[id] = sk
	return sk, nil
}

// headerForWrite returns the header and key to write a new file with. A
// passphrase file keeps the salt and parameters of prev (the file being
// replaced) when there is one, so that no new derivation is needed.
func (k *keyring) headerForWrite(prev *header) (header, *sealKey, error) {
	if k.raw != nil {
		return header{kdf: kdfKey}, k.raw, nil
	}
	h := header{kdf: kdfArgon2id}
	if prev != nil && prev.kdf == kdfArgon2id {
		h.params, h.salt = prev.params, prev.salt
	} else {
		salt, err := store.NewSalt()
		if err != nil {
			return h, nil, err
		}
		h.params, h.salt = kdfParams, salt
	}
	sk, err := k.keyFor(&h)
	return h, sk, err
}

// loadKeyFile reads the key file, or creates it with a new random key when
// it does not exist and there is no cache file that an older key could
// have written. Creation is atomic (link of a complete temporary file), so
// processes racing to create it all end up with the same key.
func loadKeyFile(keyPath, cachePath string) ([]byte, bool, error) {
	for range 3 {
		key, err := readKeyFile(keyPath)
		if !errors.Is(err, fs.ErrNotExist) {
			return key, false, err
		}
		if _, err := os.Lstat(cachePath); err == nil {
			return nil, false, fmt.Errorf("file: key file %s does not exist but cache file %s does, so it was encrypted with a key this process does not have; restore the key file (or set CREDHOST_CACHE_KEY), or delete %s to start over: %w", keyPath, cachePath, cachePath, store.ErrWrongKey)
		}
		created, err := createKeyFile(keyPath)
		if err != nil {
			return nil, false, err
		}
		if created {
			key, err := readKeyFile(keyPath)
			return key, true, err
		}
	}
	return nil, false, fmt.Errorf("file: key file %s keeps disappearing", keyPath)
}

func readKeyFile(path string) ([]byte, error) {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("file: key file: %w", err)
	}
	if err := checkKeyFileMode(path, fi); err != nil {
		return nil, err
	}
	if fi.Size() > 1024 {
		return nil, fmt.Errorf("file: key file %s is %d bytes; it must hold one key (32 raw bytes, or their base64 or hex)", path, fi.Size())
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && fi.Size() > 0 {
		return nil, fmt.Errorf("file: key file: %w", err)
	}
	key, err := store.ParseKey(core.NewSecret(string(b)))
	if err != nil {
		return nil, fmt.Errorf("file: key file %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile writes a new key to path unless it exists; it reports
// whether this call created it.
func createKeyFile(path string) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("file: create key file: %w", err)
	}
	if err := checkDir(dir); err != nil {
		return false, err
	}
	key, err := store.GenerateKey()
	if err != nil {
		return false, err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := fmt.Sprintf("%s.tmp-%d-%x", path, os.Getpid(), rnd)
	f, err := openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, fmt.Errorf("file: create key file: %w", err)
	}
	defer os.Remove(tmp)
	_, err = f.WriteString(key.Reveal() + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("file: write key file: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil // another process won the race; use its key
		}
		return false, fmt.Errorf("file: create key file: %w", err)
	}
	syncDir(dir)
	return true, nil
}
