package snapshot

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

func testID(b byte) crypto.ID {
	var id crypto.ID
	for i := range id {
		id[i] = b
	}
	return id
}

func sortNodes(nodes []Node) {
	slices.SortFunc(nodes, func(a, b Node) int { return bytes.Compare(a.Name, b.Name) })
}

// oddNodes returns nodes that use every field and awkward names.
func oddNodes() []Node {
	nodes := []Node{
		{
			Name: []byte("regular file"), Type: NodeFile, Mode: 0o4755, UID: 1000, GID: math.MaxUint32,
			User: "alice", Group: "wheel", MTime: 1_700_000_000_123_456_789, CTime: -1, ATime: math.MinInt64,
			Size: math.MaxUint64, Inode: 1 << 40, Device: 2049, Links: 2,
			Xattrs: []Xattr{
				{Name: "security.selinux", Value: []byte("unconfined_u:object_r:user_home_t:s0\x00")},
				{Name: "user.binary", Value: []byte{0, 1, 2, 0xff}},
			},
			Content: []crypto.ID{testID(1), testID(2), testID(1)},
			Sparse:  true,
		},
		{Name: []byte("dir"), Type: NodeDir, Mode: 0o3777, MTime: math.MaxInt64, Subtree: []crypto.ID{testID(3), testID(4)}},
		{Name: []byte("link"), Type: NodeSymlink, Mode: 0o777, LinkTarget: []byte("../target with \n newline\xff")},
		{Name: []byte("fifo"), Type: NodeFifo, Mode: 0o600},
		{Name: []byte("tty"), Type: NodeCharDev, Mode: 0o620, Rdev: 0x8801},
		{Name: []byte("sda"), Type: NodeBlockDev, Mode: 0o660, Rdev: 0x800},
		{Name: []byte{0xff, 0xfe, 0x80}, Type: NodeFile},
		{Name: []byte("new\nline"), Type: NodeFile},
		{Name: []byte(" leading and trailing spaces "), Type: NodeFile},
		{Name: []byte("héllo wörld"), Type: NodeFile},
		{Name: []byte("..."), Type: NodeFile},
		{Name: []byte(".hidden"), Type: NodeFile},
		{Name: []byte("\x01\x7f"), Type: NodeFile},
		{Name: bytes.Repeat([]byte("long"), 1000), Type: NodeFile, Size: 1},
		{Name: []byte("empty"), Type: NodeFile},
	}
	sortNodes(nodes)
	return nodes
}

func TestTreeRoundTrip(t *testing.T) {
	nodes := oddNodes()
	body := EncodeTree(nodes)
	got, err := DecodeTree(body)
	if err != nil {
		t.Fatalf("DecodeTree: %v", err)
	}
	if !reflect.DeepEqual(got, nodes) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, nodes)
	}
	if again := EncodeTree(got); !bytes.Equal(again, body) {
		t.Fatal("re-encoding differs")
	}
}

func TestEncodeTreeEmptyAndMinimal(t *testing.T) {
	if got := EncodeTree(nil); !bytes.Equal(got, []byte{0x01}) {
		t.Errorf("empty tree = %x, want 01", got)
	}
	nodes, err := DecodeTree([]byte{0x01})
	if err != nil || len(nodes) != 0 {
		t.Errorf("DecodeTree(01) = %v, %v", nodes, err)
	}
	// Zero-valued fields are omitted: only name and type remain.
	got := EncodeTree([]Node{{Name: []byte("x"), Type: NodeFile}})
	if want := "0106" + "010178" + "020101"; hex.EncodeToString(got) != want {
		t.Errorf("minimal entry = %x, want %s", got, want)
	}
}

func TestEncodeTreeSortsXattrs(t *testing.T) {
	n := Node{Name: []byte("f"), Type: NodeFile, Xattrs: []Xattr{{"user.b", []byte("2")}, {"user.a", []byte("1")}}}
	got, err := DecodeTree(EncodeTree([]Node{n}))
	if err != nil {
		t.Fatal(err)
	}
	if names := []string{got[0].Xattrs[0].Name, got[0].Xattrs[1].Name}; names[0] != "user.a" || names[1] != "user.b" {
		t.Errorf("xattrs decoded in order %v", names)
	}
	if n.Xattrs[0].Name != "user.b" {
		t.Error("EncodeTree modified its input")
	}
}

// TestTreeGolden pins the exact bytes of a small tree. The expected hex was
// written from FORMAT.md section 9 by hand, field by field.
func TestTreeGolden(t *testing.T) {
	nodes := []Node{
		{
			Name: []byte("a"), Type: NodeFile, Mode: 0o644, MTime: -1, Size: 5,
			Xattrs:  []Xattr{{Name: "user.k", Value: []byte("v")}},
			Content: []crypto.ID{testID(0x11)},
		},
		{Name: []byte("d"), Type: NodeDir, Mode: 0o755, MTime: 64, Subtree: []crypto.ID{testID(0x22)}},
	}
	want := "01" + // tree encoding version
		"3c" + // entry "a": 60 bytes of fields
		"010161" + // name "a"
		"020101" + // type 1 (file)
		"0302a403" + // mode 0o644 = 420 = uvarint a4 03
		"080101" + // mtime -1, zig-zag 1
		"0b0105" + // size 5
		"1108" + "06" + "757365722e6b" + "76" + // xattr: len(name) 6, "user.k", "v"
		"1220" + strings.Repeat("11", 32) + // content: one ID
		"30" + // entry "d": 48 bytes of fields
		"010164" + // name "d"
		"020102" + // type 2 (dir)
		"0302ed03" + // mode 0o755 = 493 = uvarint ed 03
		"08028001" + // mtime 64, zig-zag 128 = uvarint 80 01
		"1320" + strings.Repeat("22", 32) // subtree: one ID
	got := EncodeTree(nodes)
	if hex.EncodeToString(got) != want {
		t.Fatalf("EncodeTree =\n%x\nwant\n%s", got, want)
	}
	back, err := DecodeTree(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, nodes) {
		t.Fatalf("decoded %+v", back)
	}
}

// entryBoundaries returns the offsets in body where an entry ends.
func entryBoundaries(t *testing.T, body []byte) map[int]int {
	ends := map[int]int{1: 0}
	p, count := 1, 0
	for p < len(body) {
		l, k := binary.Uvarint(body[p:])
		p += k + int(l)
		count++
		ends[p] = count
	}
	if p != len(body) {
		t.Fatal("bad test body")
	}
	return ends
}

// TestDecodeTreeTruncation cuts a tree at every byte. The format has no
// entry count, so a cut exactly between entries is a valid shorter tree;
// every other cut must be rejected.
func TestDecodeTreeTruncation(t *testing.T) {
	nodes := oddNodes()
	body := EncodeTree(nodes)
	ends := entryBoundaries(t, body)
	for i := range len(body) {
		got, err := DecodeTree(body[:i])
		if count, ok := ends[i]; ok {
			if err != nil {
				t.Fatalf("cut at entry boundary %d: %v", i, err)
			}
			if len(got) != count || (count > 0 && !reflect.DeepEqual(got, nodes[:count])) {
				t.Fatalf("cut at %d: got %d entries, want %d", i, len(got), count)
			}
			continue
		}
		if err == nil {
			t.Fatalf("cut at byte %d of %d: no error", i, len(body))
		}
		if !errors.Is(err, ErrCorruptTree) {
			t.Fatalf("cut at %d: error %v does not wrap ErrCorruptTree", i, err)
		}
	}
}

// Helpers to build raw entries, valid or not.
func field(tag uint64, value []byte) []byte {
	f := binary.AppendUvarint(nil, tag)
	f = binary.AppendUvarint(f, uint64(len(value)))
	return append(f, value...)
}

func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func entry(fields ...[]byte) []byte {
	f := bytes.Join(fields, nil)
	return append(binary.AppendUvarint(nil, uint64(len(f))), f...)
}

func tree(entries ...[]byte) []byte { return append([]byte{1}, bytes.Join(entries, nil)...) }

func fileEntry(name string, extra ...[]byte) []byte {
	return entry(append([][]byte{field(tagName, []byte(name)), field(tagType, uv(1))}, extra...)...)
}

func TestDecodeTreeRejects(t *testing.T) {
	tests := []struct {
		name string
		body []byte
	}{
		{"empty body", nil},
		{"version 2", []byte{2}},
		{"unsorted", tree(fileEntry("b"), fileEntry("a"))},
		{"duplicate name", tree(fileEntry("a"), fileEntry("a"))},
		{"prefix after longer", tree(fileEntry("ab"), fileEntry("a"))},
		{"empty name", tree(entry(field(tagName, nil), field(tagType, uv(1))))},
		{"dot", tree(fileEntry("."))},
		{"dotdot", tree(fileEntry(".."))},
		{"slash", tree(fileEntry("a/b"))},
		{"NUL", tree(fileEntry("a\x00b"))},
		{"no name", tree(entry(field(tagType, uv(1))))},
		{"no type", tree(entry(field(tagName, []byte("a"))))},
		{"empty entry", tree(entry())},
		{"type 0", tree(entry(field(tagName, []byte("a")), field(tagType, uv(0))))},
		{"type 7", tree(entry(field(tagName, []byte("a")), field(tagType, uv(7))))},
		{"type 257", tree(entry(field(tagName, []byte("a")), field(tagType, uv(257))))},
		{"mode with file type bits", tree(fileEntry("a", field(tagMode, uv(0o100644))))},
		{"uid over 32 bits", tree(fileEntry("a", field(tagUID, uv(1<<32))))},
		{"gid over 32 bits", tree(fileEntry("a", field(tagGID, uv(1<<32))))},
		{"duplicate field", tree(fileEntry("a", field(tagSize, uv(1)), field(tagSize, uv(2))))},
		{"duplicate name field", tree(fileEntry("a", field(tagName, []byte("a"))))},
		{"overlong varint value", tree(fileEntry("a", field(tagSize, []byte{0x81, 0x00})))},
		{"overlong tag", tree(entry(field(tagName, []byte("a")), []byte{0x82, 0x00, 0x01, 0x01}))},
		{"overlong entry length", append([]byte{1, 0x86, 0x00}, fileEntry("a")[1:]...)},
		{"varint overflow", tree(fileEntry("a", field(tagSize, bytes.Repeat([]byte{0xff}, 10))))},
		{"empty int value", tree(fileEntry("a", field(tagSize, nil)))},
		{"bytes after int", tree(fileEntry("a", field(tagSize, []byte{1, 2})))},
		{"field past entry end", tree(entry(field(tagName, []byte("a")), field(tagType, uv(1)), []byte{tagSize, 5, 1}))},
		{"entry past body end", append(tree(fileEntry("a")), 0x40, 1)},
		{"content not whole IDs", tree(fileEntry("a", field(tagContent, make([]byte, 33))))},
		{"subtree not whole IDs", tree(fileEntry("a", field(tagSubtree, make([]byte, 31))))},
		{"xattr empty name", tree(fileEntry("a", field(tagXattr, []byte{0, 'v'})))},
		{"xattr name too long", tree(fileEntry("a", field(tagXattr, []byte{5, 'a', 'b'})))},
		{"xattr duplicate", tree(fileEntry("a", field(tagXattr, []byte{1, 'k', 'v'}), field(tagXattr, []byte{1, 'k', 'w'})))},
		{"sparse 2", tree(fileEntry("a", field(tagSparse, uv(2))))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, err := DecodeTree(tt.body)
			if err == nil {
				t.Fatalf("accepted %x as %+v", tt.body, nodes)
			}
			if !errors.Is(err, ErrCorruptTree) {
				t.Fatalf("error %v does not wrap ErrCorruptTree", err)
			}
		})
	}
}

func TestDecodeTreeSkipsUnknownTags(t *testing.T) {
	body := tree(
		entry(
			field(23, []byte("from the future")),
			field(tagType, uv(1)), // known fields in any order
			field(1<<40, nil),
			field(tagName, []byte("a")),
			field(0, []byte{0xff}),
			field(tagSize, uv(7)),
		),
		fileEntry("b", field(999, bytes.Repeat([]byte{0x80}, 300))),
	)
	nodes, err := DecodeTree(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []Node{{Name: []byte("a"), Type: NodeFile, Size: 7}, {Name: []byte("b"), Type: NodeFile}}
	if !reflect.DeepEqual(nodes, want) {
		t.Fatalf("got %+v", nodes)
	}
	if got, canonical := EncodeTree(nodes), tree(fileEntry("a", field(tagSize, uv(7))), fileEntry("b")); !bytes.Equal(got, canonical) {
		t.Fatalf("re-encoded %x, want %x", got, canonical)
	}
}

func TestDecodeTreeDoesNotAlias(t *testing.T) {
	body := EncodeTree(oddNodes())
	nodes, err := DecodeTree(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 0
	}
	if !reflect.DeepEqual(nodes, oddNodes()) {
		t.Fatal("decoded nodes changed when the body was overwritten")
	}
}

func TestNodeValidate(t *testing.T) {
	bad := []Node{
		{Name: []byte("a"), Type: 0},
		{Name: []byte("a"), Type: NodeFile, Mode: 0o10000},
		{Name: []byte("a/b"), Type: NodeFile},
		{Name: nil, Type: NodeFile},
		{Name: []byte("a"), Type: NodeFile, Xattrs: []Xattr{{Name: ""}}},
		{Name: []byte("a"), Type: NodeFile, Xattrs: []Xattr{{Name: "x"}, {Name: "x"}}},
	}
	for _, n := range bad {
		if n.Validate() == nil {
			t.Errorf("Validate accepted %+v", n)
		}
	}
	for _, n := range oddNodes() {
		if err := n.Validate(); err != nil {
			t.Errorf("Validate(%q): %v", n.Name, err)
		}
	}
}
