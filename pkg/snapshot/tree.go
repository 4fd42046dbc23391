package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// Where writers split a directory into runs (FORMAT.md section 9): a run
// ends after MaxTreeEntries entries, or before an entry that would make its
// encoded blob longer than MaxTreeBytes (a run always holds at least one
// entry, so one huge entry makes a blob of its own). Readers accept any
// split. The byte bound keeps a directory of thousands of large files
// (a 32-byte ID per chunk) from making one tree blob of hundreds of MiB.
const (
	MaxTreeEntries = 8192
	MaxTreeBytes   = 4 << 20
)

// treeVersion is the first byte of every tree blob body.
const treeVersion = 0x01

// ErrCorruptTree means a tree blob body does not follow FORMAT.md section 9.
var ErrCorruptTree = errors.New("corrupt tree blob")

// Field tags of a tree entry (FORMAT.md section 9).
const (
	tagName    = 1
	tagType    = 2
	tagMode    = 3
	tagUID     = 4
	tagGID     = 5
	tagUser    = 6
	tagGroup   = 7
	tagMTime   = 8
	tagCTime   = 9
	tagATime   = 10
	tagSize    = 11
	tagInode   = 12
	tagDevice  = 13
	tagLinks   = 14
	tagTarget  = 15
	tagRdev    = 16
	tagXattr   = 17
	tagContent = 18
	tagSubtree = 19
	tagSparse  = 20
	// Revision 1.1: portable device numbers of char and block devices.
	// Writers give them beside tagRdev, which holds the same number in
	// Linux's dev_t encoding for older readers.
	tagRdevMajor = 21
	tagRdevMinor = 22
	maxTag       = tagRdevMinor
)

// EncodeTree encodes nodes as one tree blob body (FORMAT.md section 9).
// The nodes must be sorted by Name bytes, unique and valid (Node.Validate);
// TreeWriter checks that, EncodeTree trusts its caller. Fields are written
// in tag order and zero values are omitted, so equal nodes always give
// equal bytes (which is what makes unchanged directories deduplicate).
func EncodeTree(nodes []Node) []byte {
	buf := []byte{treeVersion}
	var scratch []byte
	for i := range nodes {
		buf, scratch = appendEntry(buf, scratch, &nodes[i])
	}
	return buf
}

// appendEntry appends one entry to dst. scratch is reused for the fields,
// whose length must precede them; the grown scratch is returned.
func appendEntry(dst, scratch []byte, n *Node) (out, fields []byte) {
	f := scratch[:0]
	f = appendBytesField(f, tagName, n.Name)
	f = appendUvarintField(f, tagType, uint64(n.Type))
	f = appendUvarintField(f, tagMode, uint64(n.Mode))
	f = appendUvarintField(f, tagUID, uint64(n.UID))
	f = appendUvarintField(f, tagGID, uint64(n.GID))
	f = appendBytesField(f, tagUser, []byte(n.User))
	f = appendBytesField(f, tagGroup, []byte(n.Group))
	f = appendVarintField(f, tagMTime, n.MTime)
	f = appendVarintField(f, tagCTime, n.CTime)
	f = appendVarintField(f, tagATime, n.ATime)
	f = appendUvarintField(f, tagSize, n.Size)
	f = appendUvarintField(f, tagInode, n.Inode)
	f = appendUvarintField(f, tagDevice, n.Device)
	f = appendUvarintField(f, tagLinks, n.Links)
	f = appendBytesField(f, tagTarget, n.LinkTarget)
	f = appendUvarintField(f, tagRdev, n.Rdev)
	xattrs := n.Xattrs
	if !slices.IsSortedFunc(xattrs, compareXattr) {
		xattrs = slices.SortedFunc(slices.Values(xattrs), compareXattr)
	}
	for _, x := range xattrs {
		f = binary.AppendUvarint(f, tagXattr)
		f = binary.AppendUvarint(f, uint64(uvarintLen(uint64(len(x.Name)))+len(x.Name)+len(x.Value)))
		f = binary.AppendUvarint(f, uint64(len(x.Name)))
		f = append(f, x.Name...)
		f = append(f, x.Value...)
	}
	f = appendIDsField(f, tagContent, n.Content)
	f = appendIDsField(f, tagSubtree, n.Subtree)
	if n.Sparse {
		f = appendUvarintField(f, tagSparse, 1)
	}
	f = appendUvarintField(f, tagRdevMajor, uint64(DevMajor(n.Rdev)))
	f = appendUvarintField(f, tagRdevMinor, uint64(DevMinor(n.Rdev)))
	dst = binary.AppendUvarint(dst, uint64(len(f)))
	return append(dst, f...), f
}

func compareXattr(a, b Xattr) int { return strings.Compare(a.Name, b.Name) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendBytesField(f []byte, tag uint64, v []byte) []byte {
	if len(v) == 0 {
		return f
	}
	f = binary.AppendUvarint(f, tag)
	f = binary.AppendUvarint(f, uint64(len(v)))
	return append(f, v...)
}

func appendUvarintField(f []byte, tag, v uint64) []byte {
	if v == 0 {
		return f
	}
	f = binary.AppendUvarint(f, tag)
	f = binary.AppendUvarint(f, uint64(uvarintLen(v)))
	return binary.AppendUvarint(f, v)
}

func appendVarintField(f []byte, tag uint64, v int64) []byte {
	if v == 0 {
		return f
	}
	// Zig-zag, as encoding/binary's varint does.
	return appendUvarintField(f, tag, uint64(v<<1)^uint64(v>>63))
}

func appendIDsField(f []byte, tag uint64, ids []crypto.ID) []byte {
	if len(ids) == 0 {
		return f
	}
	f = binary.AppendUvarint(f, tag)
	f = binary.AppendUvarint(f, uint64(len(ids)*crypto.IDSize))
	for _, id := range ids {
		f = append(f, id[:]...)
	}
	return f
}

// DecodeTree decodes one tree blob body. It is strict, because a tree that
// decodes differently in two readers would restore different files: it
// rejects a wrong version byte, malformed or overlong varints, entries or
// fields that run past their end, known fields given twice or with values
// out of range, entries without a name or type, names that are empty, ".",
// "..", or hold '/' or NUL, and entries not strictly sorted by name.
// Unknown tags are skipped (forward compatibility); known fields may come in
// any order. Xattrs are returned sorted by name. The nodes own their
// memory; none aliases body. Errors wrap ErrCorruptTree.
//
// Note that the format has no entry count: a body cut exactly at an entry
// boundary is a valid, shorter tree. Blobs are authenticated, so that
// cannot happen unnoticed in a repository.
func DecodeTree(body []byte) ([]Node, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrCorruptTree)
	}
	if body[0] != treeVersion {
		return nil, fmt.Errorf("%w: tree encoding version %d is not supported (a newer cairn may read it)", ErrCorruptTree, body[0])
	}
	var nodes []Node
	p := body[1:]
	for len(p) > 0 {
		i := len(nodes)
		l, k, err := readUvarint(p)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: length: %v", ErrCorruptTree, i, err)
		}
		p = p[k:]
		if l > uint64(len(p)) {
			return nil, fmt.Errorf("%w: entry %d: length %d exceeds the %d bytes left", ErrCorruptTree, i, l, len(p))
		}
		var n Node
		if err := decodeEntry(p[:l], &n); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrCorruptTree, i, err)
		}
		if i > 0 && bytes.Compare(nodes[i-1].Name, n.Name) >= 0 {
			return nil, fmt.Errorf("%w: entry %d: name %q does not sort after %q", ErrCorruptTree, i, n.Name, nodes[i-1].Name)
		}
		nodes = append(nodes, n)
		p = p[l:]
	}
	return nodes, nil
}

// decodeEntry decodes the fields of one entry into n.
func decodeEntry(f []byte, n *Node) error {
	var seen uint64 // bit per known tag, to reject duplicates
	var major, minor uint32
	for len(f) > 0 {
		tag, k, err := readUvarint(f)
		if err != nil {
			return fmt.Errorf("field tag: %v", err)
		}
		f = f[k:]
		l, k, err := readUvarint(f)
		if err != nil {
			return fmt.Errorf("tag %d: length: %v", tag, err)
		}
		f = f[k:]
		if l > uint64(len(f)) {
			return fmt.Errorf("tag %d: length %d exceeds the %d bytes left", tag, l, len(f))
		}
		value := f[:l]
		f = f[l:]
		if tag > maxTag || tag == 0 {
			continue // unknown: written by a newer client
		}
		if tag != tagXattr {
			if seen&(1<<tag) != 0 {
				return fmt.Errorf("tag %d appears twice", tag)
			}
			seen |= 1 << tag
		}
		if tag == tagRdevMajor || tag == tagRdevMinor {
			v, err := decodeUint32(value)
			if err != nil {
				return fmt.Errorf("tag %d: %v", tag, err)
			}
			if tag == tagRdevMajor {
				major = v
			} else {
				minor = v
			}
			continue
		}
		if err := decodeField(n, tag, value); err != nil {
			return fmt.Errorf("tag %d: %v", tag, err)
		}
	}
	if seen&(1<<tagRdevMajor|1<<tagRdevMinor) != 0 {
		// The portable numbers rule; a raw dev_t given too must agree, or
		// a reader of only tag 16 would create another device.
		dev := MakeDev(major, minor)
		if seen&(1<<tagRdev) != 0 && n.Rdev != dev {
			return fmt.Errorf("%q: device %d:%d does not match raw device number %#x", n.Name, major, minor, n.Rdev)
		}
		n.Rdev = dev
	}
	if seen&(1<<tagName) == 0 {
		return errors.New("no name")
	}
	if err := ValidName(n.Name); err != nil {
		return err
	}
	if seen&(1<<tagType) == 0 {
		return fmt.Errorf("%q: no type", n.Name)
	}
	slices.SortFunc(n.Xattrs, compareXattr)
	for i := 1; i < len(n.Xattrs); i++ {
		if n.Xattrs[i].Name == n.Xattrs[i-1].Name {
			return fmt.Errorf("%q: xattr %q appears twice", n.Name, n.Xattrs[i].Name)
		}
	}
	return nil
}

// decodeField stores one known field's value in n.
func decodeField(n *Node, tag uint64, value []byte) error {
	switch tag {
	case tagName:
		n.Name = cloneBytes(value)
	case tagUser:
		n.User = string(value)
	case tagGroup:
		n.Group = string(value)
	case tagTarget:
		n.LinkTarget = cloneBytes(value)
	case tagXattr:
		l, k, err := readUvarint(value)
		if err != nil {
			return fmt.Errorf("xattr name length: %v", err)
		}
		if l == 0 || l > uint64(len(value)-k) {
			return fmt.Errorf("xattr name length %d out of range", l)
		}
		name := value[k : k+int(l)]
		n.Xattrs = append(n.Xattrs, Xattr{Name: string(name), Value: cloneBytes(value[k+int(l):])})
	case tagContent, tagSubtree:
		if len(value)%crypto.IDSize != 0 {
			return fmt.Errorf("%d bytes is not a whole number of IDs", len(value))
		}
		var ids []crypto.ID
		if len(value) > 0 {
			ids = make([]crypto.ID, len(value)/crypto.IDSize)
			for i := range ids {
				copy(ids[i][:], value[i*crypto.IDSize:])
			}
		}
		if tag == tagContent {
			n.Content = ids
		} else {
			n.Subtree = ids
		}
	default:
		return decodeIntField(n, tag, value)
	}
	return nil
}

// decodeIntField stores a field whose value is one varint.
func decodeIntField(n *Node, tag uint64, value []byte) error {
	v, k, err := readUvarint(value)
	if err != nil {
		return err
	}
	if k != len(value) {
		return fmt.Errorf("%d bytes after the varint", len(value)-k)
	}
	signed := int64(v>>1) ^ -int64(v&1) // zig-zag
	switch tag {
	case tagType:
		if !NodeType(v).Valid() || v > math.MaxUint8 {
			return fmt.Errorf("unknown node type %d", v)
		}
		n.Type = NodeType(v)
	case tagMode:
		if v&^ModeMask != 0 {
			return fmt.Errorf("mode %#o has bits outside %#o", v, ModeMask)
		}
		n.Mode = uint32(v)
	case tagUID, tagGID:
		if v > math.MaxUint32 {
			return fmt.Errorf("id %d exceeds 32 bits", v)
		}
		if tag == tagUID {
			n.UID = uint32(v)
		} else {
			n.GID = uint32(v)
		}
	case tagMTime:
		n.MTime = signed
	case tagCTime:
		n.CTime = signed
	case tagATime:
		n.ATime = signed
	case tagSize:
		n.Size = v
	case tagInode:
		n.Inode = v
	case tagDevice:
		n.Device = v
	case tagLinks:
		n.Links = v
	case tagRdev:
		n.Rdev = v
	case tagSparse:
		if v > 1 {
			return fmt.Errorf("sparse flag %d is not 0 or 1", v)
		}
		n.Sparse = v == 1
	}
	return nil
}

// decodeUint32 decodes a field holding one uvarint of at most 32 bits.
func decodeUint32(value []byte) (uint32, error) {
	v, k, err := readUvarint(value)
	if err != nil {
		return 0, err
	}
	if k != len(value) {
		return 0, fmt.Errorf("%d bytes after the varint", len(value)-k)
	}
	if v > math.MaxUint32 {
		return 0, fmt.Errorf("%d exceeds 32 bits", v)
	}
	return uint32(v), nil
}

// readUvarint reads a minimally encoded uvarint: overlong encodings would
// let one tree have many byte forms.
func readUvarint(b []byte) (v uint64, n int, err error) {
	v, n = binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, errors.New("truncated varint")
	case n < 0:
		return 0, 0, errors.New("varint overflows 64 bits")
	case n > 1 && b[n-1] == 0:
		return 0, 0, errors.New("overlong varint")
	}
	return v, n, nil
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}
