package pack

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/klauspost/compress/zstd"
)

// Compression markers, the first byte of every blob and envelope payload.
const (
	CompressionNone byte = 0
	CompressionZstd byte = 1
)

// ErrIDMismatch means a blob decrypted fine but its content does not hash
// to its ID: written by a buggy client, or a hash collision.
var ErrIDMismatch = errors.New("blob content does not match its ID")

// Compress returns the payload for body: zstd when that is smaller, else raw.
// enc may be nil to store raw. dst is reused when large enough.
func Compress(enc *zstd.Encoder, dst, body []byte) []byte {
	return appendPayload(enc, dst[:0], body)
}

// appendPayload appends the payload for body (see Compress) to dst.
func appendPayload(enc *zstd.Encoder, dst, body []byte) []byte {
	start := len(dst)
	if enc != nil && len(body) > 64 {
		dst = append(dst, CompressionZstd)
		dst = enc.EncodeAll(body, dst)
		if len(dst)-start < len(body)+1 {
			return dst
		}
		dst = dst[:start]
	}
	dst = append(dst, CompressionNone)
	return append(dst, body...)
}

// Decompress undoes Compress, appending the body to dst[:0]. maxSize bounds
// the output so a hostile blob cannot exhaust memory.
func Decompress(dec *zstd.Decoder, dst, payload []byte, maxSize int) ([]byte, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrCorrupt)
	}
	switch payload[0] {
	case CompressionNone:
		return append(dst[:0], payload[1:]...), nil
	case CompressionZstd:
		out, err := dec.DecodeAll(payload[1:], dst[:0])
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
		}
		if len(out) > maxSize {
			return nil, fmt.Errorf("%w: blob decompresses to %d bytes, limit %d", ErrCorrupt, len(out), maxSize)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown compression %d", ErrCorrupt, payload[0])
}

// SealBlob encrypts a payload (from Compress) as blob id of type t.
func SealBlob(keys *crypto.Keys, dst []byte, t BlobType, id crypto.ID, payload []byte) []byte {
	return keys.Seal(dst, payload, BlobAD(t, id))
}

// EncodeBlob compresses and seals body as blob id of type t, the same as
// SealBlob over Compress, in buf when it is large enough. The payload is
// compressed behind room for the nonce and encrypted where it lies, so a
// blob costs one buffer and no copy beyond compressing it.
func EncodeBlob(enc *zstd.Encoder, keys *crypto.Keys, buf []byte, t BlobType, id crypto.ID, body []byte) []byte {
	// Room for the worst case up front: grown by appends, a buffer for a
	// megabyte blob would be reallocated a dozen times.
	need := len(body)
	if enc != nil {
		need = max(need, enc.MaxEncodedSize(len(body)))
	}
	buf = slices.Grow(buf[:0], crypto.Overhead+1+need)
	buf = append(buf, make([]byte, crypto.NonceSize)...)
	buf = appendPayload(enc, buf, body)
	return keys.SealInPlace(buf, BlobAD(t, id))
}

// OpenBlob authenticates, decrypts and decompresses a sealed blob and checks
// that the plaintext hashes to id. It returns the plaintext.
func OpenBlob(keys *crypto.Keys, hasher *crypto.IDHasher, dec *zstd.Decoder, t BlobType, id crypto.ID, sealed []byte, maxSize int) ([]byte, error) {
	return OpenBlobScratch(keys, hasher, dec, t, id, sealed, maxSize, new([]byte))
}

// OpenBlobScratch is OpenBlob decrypting into *scratch (grown when short,
// and kept there for reuse): the decrypted payload is only a step on the
// way, and a fresh buffer for it per blob (allocated and cleared) cost
// restore about a tenth of its CPU. The plaintext returned is always a new
// slice, never scratch, so callers may keep it.
func OpenBlobScratch(keys *crypto.Keys, hasher *crypto.IDHasher, dec *zstd.Decoder, t BlobType, id crypto.ID, sealed []byte, maxSize int, scratch *[]byte) ([]byte, error) {
	payload, err := openPayload(keys, t, id, sealed, scratch)
	if err != nil {
		return nil, err
	}
	plain, err := Decompress(dec, nil, payload, maxSize)
	return checkPlain(hasher, t, id, plain, err)
}

// OpenBlobBorrowed is OpenBlob without allocating: the payload is decrypted
// into *scratch and, when compressed, decompressed into *out (each grown
// when short and kept for reuse). The plaintext returned lies in one of the
// two and is valid only until they are reused. With scratch nil the
// payload is decrypted in place, in sealed, which it then overwrites (also
// when authentication fails).
func OpenBlobBorrowed(keys *crypto.Keys, hasher *crypto.IDHasher, dec *zstd.Decoder, t BlobType, id crypto.ID, sealed []byte, maxSize int, scratch, out *[]byte) ([]byte, error) {
	payload, err := openPayload(keys, t, id, sealed, scratch)
	if err != nil {
		return nil, err
	}
	if payload[0] == CompressionNone {
		return checkPlain(hasher, t, id, payload[1:], nil)
	}
	plain, err := Decompress(dec, (*out)[:0], payload, maxSize)
	if err == nil {
		*out = plain
	}
	return checkPlain(hasher, t, id, plain, err)
}

func openPayload(keys *crypto.Keys, t BlobType, id crypto.ID, sealed []byte, scratch *[]byte) ([]byte, error) {
	// In place: the ciphertext's own storage, the exact overlap the AEAD
	// allows (a message too short for a nonce fails authentication).
	dst := sealed[min(len(sealed), crypto.NonceSize):][:0]
	if scratch != nil {
		if need := len(sealed) - crypto.Overhead; need > cap(*scratch) {
			*scratch = make([]byte, 0, need)
		}
		dst = (*scratch)[:0]
	}
	payload, err := keys.Open(dst, sealed, BlobAD(t, id))
	if err != nil {
		return nil, fmt.Errorf("%s blob %s: %w", t, id.Short(), err)
	}
	if len(payload) == 0 {
		return nil, fmt.Errorf("%s blob %s: %w: empty payload", t, id.Short(), ErrCorrupt)
	}
	return payload, nil
}

func checkPlain(hasher *crypto.IDHasher, t BlobType, id crypto.ID, plain []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, fmt.Errorf("%s blob %s: %w", t, id.Short(), err)
	}
	if hasher.Sum(plain) != id {
		return nil, fmt.Errorf("%s blob %s: %w", t, id.Short(), ErrIDMismatch)
	}
	return plain, nil
}
