package snapshot

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// bigFile is a file entry with ids content IDs: 32 bytes each, so entries
// of large files are what makes tree blobs big.
func bigFile(i, ids int) Node {
	content := make([]crypto.ID, ids)
	for k := range content {
		content[k] = testID(byte(i + k))
	}
	return Node{Name: fileName(i), Type: NodeFile, Size: uint64(ids) << 20, Content: content}
}

func TestTreeWriterSplitsByBytes(t *testing.T) {
	m := newMemBlobs()
	// 300 entries of about 32 KiB (a 1 GiB file at 1 MiB chunks), one of
	// 5 MiB in the middle, which must get a blob of its own.
	var nodes []Node
	for i := range 300 {
		ids := 1000
		if i == 150 {
			ids = 5 << 20 / crypto.IDSize
		}
		nodes = append(nodes, bigFile(i, ids))
	}
	w := NewTreeWriter(context.Background(), m)
	for _, n := range nodes {
		if err := w.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []Node
	for i, id := range ids {
		body := m.blobs[id]
		run, err := DecodeTree(body)
		if err != nil {
			t.Fatal(err)
		}
		if len(run) == 0 {
			t.Fatalf("run %d is empty", i)
		}
		if len(body) > MaxTreeBytes && len(run) != 1 {
			t.Errorf("run %d: %d bytes in %d entries, over the bound of %d", i, len(body), len(run), MaxTreeBytes)
		}
		if i+1 < len(ids) {
			// The run was cut only because the next entry did not fit.
			next := EncodeTree(nodes[len(got)+len(run) : len(got)+len(run)+1])
			if len(body)+len(next)-1 <= MaxTreeBytes {
				t.Errorf("run %d (%d bytes) was cut although the next entry (%d bytes) fits", i, len(body), len(next)-1)
			}
		}
		got = append(got, run...)
	}
	if !reflect.DeepEqual(got, nodes) {
		t.Fatal("runs do not hold the entries in order")
	}
	// 150 entries of 32 KiB fit in 4 MiB about 128 at a time: 2 runs
	// before the big entry, its own run, 2 after.
	if len(ids) != 5 {
		t.Errorf("%d runs, want 5", len(ids))
	}
	var big int
	for _, id := range ids {
		if len(m.blobs[id]) > MaxTreeBytes {
			big++
		}
	}
	if big != 1 {
		t.Errorf("%d runs over the bound, want the one holding the 5 MiB entry", big)
	}
}

func TestDevNumbers(t *testing.T) {
	for _, c := range []struct {
		major, minor uint32
		dev          uint64
	}{
		{0, 0, 0}, {8, 1, 0x801}, {136, 1, 0x8801}, {259, 65536, 0x10010300},
		{0xffffffff, 0xffffffff, 0xffffffffffffffff},
		{0x1000, 0, 0x100000000000}, {0, 0x100, 0x100000},
	} {
		if got := MakeDev(c.major, c.minor); got != c.dev {
			t.Errorf("MakeDev(%d, %d) = %#x, want %#x", c.major, c.minor, got, c.dev)
		}
		if DevMajor(c.dev) != c.major || DevMinor(c.dev) != c.minor {
			t.Errorf("%#x splits into %d:%d, want %d:%d", c.dev, DevMajor(c.dev), DevMinor(c.dev), c.major, c.minor)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		dev := r.Uint64()
		if MakeDev(DevMajor(dev), DevMinor(dev)) != dev {
			t.Fatalf("%#x does not round-trip", dev)
		}
	}
}

func TestTreeDeviceNumbers(t *testing.T) {
	dev := MakeDev(259, 65536)
	n := Node{Name: []byte("nvme"), Type: NodeBlockDev, Rdev: dev}
	raw := field(tagRdev, uv(dev))
	portable := [][]byte{field(tagRdevMajor, uv(259)), field(tagRdevMinor, uv(65536))}
	canonical := tree(entry(field(tagName, []byte("nvme")), field(tagType, uv(6)), raw, portable[0], portable[1]))
	if got := EncodeTree([]Node{n}); !bytes.Equal(got, canonical) {
		t.Fatalf("EncodeTree = %x, want %x", got, canonical)
	}
	ok := map[string][]byte{
		"raw only (written before 1.1)": tree(entry(field(tagName, []byte("nvme")), field(tagType, uv(6)), raw)),
		"portable only":                 tree(entry(field(tagName, []byte("nvme")), field(tagType, uv(6)), portable[1], portable[0])),
		"canonical":                     canonical,
	}
	for name, body := range ok {
		nodes, err := DecodeTree(body)
		if err != nil || len(nodes) != 1 || nodes[0].Rdev != dev {
			t.Errorf("%s: %+v %v", name, nodes, err)
		}
	}
	// Minor only: major 0.
	nodes, err := DecodeTree(tree(entry(field(tagName, []byte("c")), field(tagType, uv(5)), field(tagRdevMinor, uv(3)))))
	if err != nil || nodes[0].Rdev != 3 {
		t.Errorf("minor only: %+v %v", nodes, err)
	}
	bad := map[string][]byte{
		"raw disagrees": tree(entry(field(tagName, []byte("nvme")), field(tagType, uv(6)), field(tagRdev, uv(dev+1)), portable[0], portable[1])),
		"major > 32 bits": tree(entry(field(tagName, []byte("nvme")), field(tagType, uv(6)),
			field(tagRdevMajor, uv(1<<32)))),
		"major twice": tree(entry(field(tagName, []byte("nvme")), field(tagType, uv(6)), portable[0], portable[0])),
		"trailing bytes": tree(entry(field(tagName, []byte("nvme")), field(tagType, uv(6)),
			field(tagRdevMinor, append(uv(1), 0)))),
	}
	for name, body := range bad {
		if _, err := DecodeTree(body); !errors.Is(err, ErrCorruptTree) {
			t.Errorf("%s: %v, want ErrCorruptTree", name, err)
		}
	}
}
