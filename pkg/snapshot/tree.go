package snapshot

import (
	"errors"
)

// MaxTreeEntries is where writers split a directory into runs: each tree
// blob holds at most this many entries. Readers accept any split.
const MaxTreeEntries = 8192

// treeVersion is the first byte of every tree blob body.
const treeVersion = 0x01

// ErrCorruptTree means a tree blob body does not follow FORMAT.md section 9.
var ErrCorruptTree = errors.New("corrupt tree blob")

// EncodeTree encodes nodes as one tree blob body (FORMAT.md section 9).
// The nodes must be sorted by Name bytes, unique and valid (see
// Node.Validate); TreeWriter checks that, EncodeTree trusts its caller.
// Fields holding zero values are omitted, so the encoding is canonical.
func EncodeTree(nodes []Node) []byte {
	panic("unimplemented")
}

// DecodeTree decodes one tree blob body. It is strict: it rejects bad or
// overlong varints, truncation inside an entry, duplicate fields, names that
// are empty, ".", "..", or hold '/' or NUL, and entries that are not
// sorted by name. Unknown tags are skipped. Errors wrap ErrCorruptTree.
func DecodeTree(body []byte) ([]Node, error) {
	panic("unimplemented")
}
