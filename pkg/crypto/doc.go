// Package crypto holds cairn's cryptographic primitives: the repository's
// master secret and the subkeys derived from it, the authenticated encryption
// of every stored object, keyed content IDs, and the passphrase-based
// wrapping of the master secret in key files.
//
// Why these choices:
//
//   - One random 256-bit master secret per repository, never derived from a
//     passphrase. Passphrases only wrap it (see key.go), so several people or
//     devices can each have their own passphrase for the same data, and a
//     passphrase change rewrites one small key file, not the repository.
//   - Subkeys per purpose (encryption, content IDs, chunker) come from
//     HKDF-SHA-256 with distinct labels, so a weakness in one use cannot leak
//     into another.
//   - XChaCha20-Poly1305 with a random 192-bit nonce per message. With 2^96
//     random nonces before a collision is likely, nonces cannot repeat in
//     practice even across many clients sharing one key, which AES-GCM's
//     96-bit nonces cannot promise at backup scale without coordination.
//   - Every message binds its kind and identity as associated data (for a
//     blob: its type and ID), so the storage server cannot swap one valid
//     object or blob for another without the swap failing authentication.
//   - Content IDs are HMAC-SHA-256 under a repository key, not plain hashes:
//     the storage operator cannot test whether a known file is stored.
//     SHA-256 runs on the CPU's SHA extensions where present, which makes
//     HMAC-SHA-256 faster here than keyed BLAKE2b.
//   - Argon2id for passphrases, with its parameters stored beside the salt so
//     they can be raised later without a format change.
//
// Only the standard library and golang.org/x/crypto are used.
package crypto
