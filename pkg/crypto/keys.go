package crypto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// KeySize is the size of the master secret and of every subkey.
const KeySize = 32

// MasterKey is a repository's random master secret.
type MasterKey [KeySize]byte

// NewMasterKey returns a fresh random master secret.
func NewMasterKey() (MasterKey, error) {
	var mk MasterKey
	if _, err := io.ReadFull(rand.Reader, mk[:]); err != nil {
		return mk, fmt.Errorf("generate master key: %w", err)
	}
	return mk, nil
}

// HKDF labels. They are part of the repository format (FORMAT.md).
const (
	labelEncrypt = "cairn 1 encryption key"
	labelID      = "cairn 1 content id key"
	labelChunker = "cairn 1 chunker key"
)

// Keys are the subkeys derived from a master secret.
type Keys struct {
	encrypt [KeySize]byte
	id      [KeySize]byte
	chunker [KeySize]byte
}

// DeriveKeys derives the per-purpose subkeys from a master secret with
// HKDF-SHA-256 (no salt, one label per purpose).
func DeriveKeys(mk MasterKey) *Keys {
	k := &Keys{}
	derive := func(label string, out *[KeySize]byte) {
		r := hkdf.New(sha256.New, mk[:], nil, []byte(label))
		if _, err := io.ReadFull(r, out[:]); err != nil {
			panic("hkdf cannot fail for 32 bytes: " + err.Error())
		}
	}
	derive(labelEncrypt, &k.encrypt)
	derive(labelID, &k.id)
	derive(labelChunker, &k.chunker)
	return k
}

// DeriveKeysWith is DeriveKeys with the content-ID key and the chunker key
// given rather than derived: a repository made to chunk and name data as
// another does (init --copy-chunker-params-from) has its own master secret,
// hence its own encryption key, and carries the other's two keys in its
// config (FORMAT.md section 5). HKDF is one-way, so those two reveal
// nothing about the other repository's master secret or encryption key.
func DeriveKeysWith(mk MasterKey, id, chunker [KeySize]byte) *Keys {
	k := DeriveKeys(mk)
	k.id, k.chunker = id, chunker
	return k
}

// ContentKeys returns the content-ID key and the chunker key, the two keys
// that decide how data is chunked and named, for a new repository that is
// to chunk and name data alike (DeriveKeysWith). They decrypt nothing.
func (k *Keys) ContentKeys() (id, chunker [KeySize]byte) { return k.id, k.chunker }

// ChunkerKey returns the key for the keyed content-defined chunker.
func (k *Keys) ChunkerKey() []byte {
	out := k.chunker
	return out[:]
}

// ErrAuth means a message failed authentication: it was modified, truncated,
// swapped for another, or sealed under a different key.
var ErrAuth = errors.New("authentication failed")

// Overhead is the number of bytes Seal adds: nonce plus tag.
const Overhead = NonceSize + chacha20poly1305.Overhead

// NonceSize is the length of the nonce that starts a sealed message.
const NonceSize = chacha20poly1305.NonceSizeX

// Seal encrypts and authenticates plaintext with associated data ad and
// appends nonce || ciphertext || tag to dst.
func (k *Keys) Seal(dst, plaintext, ad []byte) []byte {
	return seal(k.encrypt[:], dst, plaintext, ad)
}

// Open authenticates and decrypts a message made by Seal with the same ad,
// appending the plaintext to dst. Any change gives an error wrapping ErrAuth.
func (k *Keys) Open(dst, sealed, ad []byte) ([]byte, error) {
	return open(k.encrypt[:], dst, sealed, ad)
}

// SealInPlace is Seal for a plaintext that already follows NonceSize
// bytes of room in buf (buf is room || plaintext): it writes the nonce into
// the room, encrypts the plaintext where it is and appends the tag, so a
// large message needs neither a second buffer nor a copy. buf is
// reallocated only if it lacks capacity for the tag.
func (k *Keys) SealInPlace(buf, ad []byte) []byte {
	if len(buf) < NonceSize {
		panic("crypto: SealInPlace without room for the nonce")
	}
	aead, err := chacha20poly1305.NewX(k.encrypt[:])
	if err != nil {
		panic("xchacha20poly1305 key size: " + err.Error())
	}
	buf = slices.Grow(buf, chacha20poly1305.Overhead)
	nonce, plaintext := buf[:NonceSize], buf[NonceSize:]
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	// plaintext[:0] as dst: the exact overlap the AEAD allows.
	out := aead.Seal(plaintext[:0], nonce, plaintext, ad)
	return buf[:NonceSize+len(out)]
}

func seal(key, dst, plaintext, ad []byte) []byte {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic("xchacha20poly1305 key size: " + err.Error())
	}
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return sealWithNonce(aead, dst, nonce[:], plaintext, ad)
}

func sealWithNonce(aead interface {
	Seal(dst, nonce, plaintext, ad []byte) []byte
}, dst, nonce, plaintext, ad []byte) []byte {
	dst = append(dst, nonce...)
	return aead.Seal(dst, nonce, plaintext, ad)
}

func open(key, dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: message of %d bytes is shorter than nonce and tag", ErrAuth, len(sealed))
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic("xchacha20poly1305 key size: " + err.Error())
	}
	n := chacha20poly1305.NonceSizeX
	out, err := aead.Open(dst, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// IDSize is the size of content IDs and object hashes.
const IDSize = 32

// ID identifies a blob (keyed content hash) or an object (SHA-256 of its
// stored bytes).
type ID [IDSize]byte

// String returns the lowercase hex form used in object names and output.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for display.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is all zeros (unset).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses a 64-digit hex ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("invalid ID %q: want %d hex digits", s, 2*IDSize)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("invalid ID %q: %w", s, err)
	}
	return id, nil
}

// Hash returns the unkeyed SHA-256 of stored object bytes; object names are
// derived from it so that anyone (the server included) can check an object
// against its name, while the name reveals nothing about the plaintext.
func Hash(data []byte) ID { return sha256.Sum256(data) }

// IDHasher computes keyed content IDs. It is not safe for concurrent use;
// make one per goroutine with NewIDHasher.
type IDHasher struct{ h hash.Hash }

// NewIDHasher returns a hasher for content IDs (HMAC-SHA-256 under the ID
// subkey).
func (k *Keys) NewIDHasher() *IDHasher {
	return &IDHasher{h: hmac.New(sha256.New, k.id[:])}
}

// Sum returns the content ID of data.
func (h *IDHasher) Sum(data []byte) ID {
	h.h.Reset()
	h.h.Write(data)
	var id ID
	h.h.Sum(id[:0])
	return id
}

// BlobID is a convenience for a one-off content ID.
func (k *Keys) BlobID(data []byte) ID { return k.NewIDHasher().Sum(data) }
