package pack

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// BlobType says what a blob holds. The values are part of the format.
type BlobType uint8

const (
	// DataBlob is a chunk of file content.
	DataBlob BlobType = 1
	// TreeBlob is an encoded run of directory entries.
	TreeBlob BlobType = 2
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return fmt.Sprintf("blobtype(%d)", uint8(t))
}

// Valid reports whether t is a known blob type.
func (t BlobType) Valid() bool { return t == DataBlob || t == TreeBlob }

// Entry locates one sealed blob inside a pack.
type Entry struct {
	Type   BlobType
	ID     crypto.ID
	Offset uint32
	Length uint32
	// PlainLen is the blob's plaintext length; 0 in version-1 headers,
	// which do not record it.
	PlainLen uint32
}

const (
	// Headers written since format 1.1 ("CAIRNPK2") record each blob's
	// plaintext length; "CAIRNPK1" headers do not, and are still read.
	headerMagic       = "CAIRNPK2"
	headerMagicV1     = "CAIRNPK1"
	headerEntrySize   = 1 + crypto.IDSize + 4 + 4 + 4
	headerEntrySizeV1 = 1 + crypto.IDSize + 4 + 4
	headerAD          = "cairn 1 pack header"
	// MaxHeaderLength bounds the header a reader accepts (a million blobs).
	MaxHeaderLength = 1 << 26
)

// ErrCorrupt means a pack's structure is invalid.
var ErrCorrupt = errors.New("corrupt pack")

// BlobAD is the associated data that binds a sealed blob to its type and ID.
func BlobAD(t BlobType, id crypto.ID) []byte {
	ad := make([]byte, 0, len("cairn 1 blob")+1+crypto.IDSize)
	ad = append(ad, "cairn 1 blob"...)
	ad = append(ad, byte(t))
	return append(ad, id[:]...)
}

// Builder accumulates sealed blobs for one pack. It is not safe for
// concurrent use; callers seal blobs in parallel and append under a lock.
// The zero value is an empty builder whose buffer grows as blobs are added;
// Reset gives it a buffer to fill instead.
type Builder struct {
	buf     []byte
	entries []Entry
}

// Reset empties b and makes it append to buf[:0]. Passing the pack of an
// earlier Finish, once its upload is done, reuses that memory: allocating
// (and the kernel zeroing) a fresh 16 MiB buffer for every pack costs more
// CPU than sealing the blobs in it.
func (b *Builder) Reset(buf []byte) {
	b.buf, b.entries = buf[:0], nil
}

// Add appends an already sealed blob (see SealBlob) whose plaintext is
// plainLen bytes long, and records its entry.
func (b *Builder) Add(t BlobType, id crypto.ID, sealed []byte, plainLen int) {
	b.entries = append(b.entries, Entry{Type: t, ID: id, Offset: uint32(len(b.buf)), Length: uint32(len(sealed)), PlainLen: uint32(plainLen)})
	b.buf = append(b.buf, sealed...)
}

// Size is the number of blob bytes so far.
func (b *Builder) Size() int { return len(b.buf) }

// Count is the number of blobs so far.
func (b *Builder) Count() int { return len(b.entries) }

// Finish seals the header, appends it, and returns the whole pack (in the
// Builder's buffer when it has room) and its entries. The Builder must not
// be used afterwards, except to Reset it.
func (b *Builder) Finish(keys *crypto.Keys) ([]byte, []Entry) {
	body := make([]byte, 0, 1+len(headerMagic)+4+len(b.entries)*headerEntrySize)
	body = append(body, 0) // compression: none
	body = append(body, headerMagic...)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(b.entries)))
	for _, e := range b.entries {
		body = append(body, byte(e.Type))
		body = append(body, e.ID[:]...)
		body = binary.LittleEndian.AppendUint32(body, e.Offset)
		body = binary.LittleEndian.AppendUint32(body, e.Length)
		body = binary.LittleEndian.AppendUint32(body, e.PlainLen)
	}
	out := b.buf
	start := len(out)
	out = keys.Seal(out, body, []byte(headerAD))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(out)-start))
	entries := b.entries
	b.buf, b.entries = nil, nil
	return out, entries
}

// HeaderLength returns the sealed header length from a pack's last 4 bytes.
func HeaderLength(tail []byte) (int, error) {
	if len(tail) < 4 {
		return 0, fmt.Errorf("%w: shorter than 4 bytes", ErrCorrupt)
	}
	n := binary.LittleEndian.Uint32(tail[len(tail)-4:])
	if n < crypto.Overhead || n > MaxHeaderLength {
		return 0, fmt.Errorf("%w: header length %d out of range", ErrCorrupt, n)
	}
	return int(n), nil
}

// ParseHeader authenticates and decodes a sealed header (without the
// trailing length). packSize is the size of the whole pack, used to check
// that every entry lies inside the blob area.
func ParseHeader(keys *crypto.Keys, sealed []byte, packSize int64) ([]Entry, error) {
	body, err := keys.Open(nil, sealed, []byte(headerAD))
	if err != nil {
		return nil, fmt.Errorf("pack header: %w", err)
	}
	if len(body) < 1+len(headerMagic)+4 || body[0] != 0 {
		return nil, fmt.Errorf("%w: bad header magic", ErrCorrupt)
	}
	var size int
	switch string(body[1 : 1+len(headerMagic)]) {
	case headerMagic:
		size = headerEntrySize
	case headerMagicV1:
		size = headerEntrySizeV1
	default:
		return nil, fmt.Errorf("%w: bad header magic", ErrCorrupt)
	}
	body = body[1+len(headerMagic):]
	n := binary.LittleEndian.Uint32(body)
	body = body[4:]
	if uint64(len(body)) != uint64(n)*uint64(size) {
		return nil, fmt.Errorf("%w: header holds %d bytes for %d entries", ErrCorrupt, len(body), n)
	}
	blobArea := packSize - int64(len(sealed)) - 4
	entries := make([]Entry, n)
	for i := range entries {
		e := &entries[i]
		e.Type = BlobType(body[0])
		copy(e.ID[:], body[1:1+crypto.IDSize])
		e.Offset = binary.LittleEndian.Uint32(body[1+crypto.IDSize:])
		e.Length = binary.LittleEndian.Uint32(body[1+crypto.IDSize+4:])
		if size == headerEntrySize {
			e.PlainLen = binary.LittleEndian.Uint32(body[1+crypto.IDSize+8:])
		}
		body = body[size:]
		if !e.Type.Valid() || int64(e.Offset)+int64(e.Length) > blobArea || e.Length < crypto.Overhead+1 {
			return nil, fmt.Errorf("%w: entry %d (%s %s) out of range", ErrCorrupt, i, e.Type, e.ID.Short())
		}
	}
	return entries, nil
}
