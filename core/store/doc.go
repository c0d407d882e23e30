// Package store holds what the persistent token stores share: encryption
// keys (parsing, generation, the Argon2id passphrase KDF), the sealed-entry
// format built on XChaCha20-Poly1305, and the errors both stores return.
//
// The stores themselves live in the subpackages: [file] (the default, an
// encrypted file shared by every process on one machine) and [redis] (for web
// farms). Both implement core.Store.
//
// Nothing in this package reads environment variables or configuration: the
// host resolves CREDHOST_CACHE_KEY, key files and passphrases and hands the
// stores a core.Secret.
//
// [file]: github.com/credhost/credhost/core/store/file
// [redis]: github.com/credhost/credhost/core/store/redis
package store
