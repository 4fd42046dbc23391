package snapshot

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeTree checks that DecodeTree never panics, that what it accepts
// re-encodes canonically (decoding the canonical form gives the same nodes
// and encodes to the same bytes), and that every accepted node would also
// pass TreeWriter's checks. The seeds run with plain go test.
func FuzzDecodeTree(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(EncodeTree(oddNodes()))
	f.Add(tree(fileEntry("a", field(tagSize, uv(7)), field(maxTag+1, []byte("future"))), fileEntry("b")))
	f.Add(EncodeTree([]Node{{Name: []byte("dev"), Type: NodeBlockDev, Rdev: MakeDev(259, 1<<20)}}))
	f.Add(tree(entry(field(tagName, []byte("c")), field(tagType, uv(5)), field(tagRdev, uv(0x801)), field(tagRdevMinor, uv(2)))))
	f.Add(tree(fileEntry("b"), fileEntry("a")))
	f.Add(tree(fileEntry("a", field(tagXattr, []byte{1, 'k', 'v'}), field(tagXattr, []byte{1, 'j'}))))
	f.Add(tree(fileEntry("a", field(tagMTime, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}))))
	f.Add(tree(fileEntry("a", field(tagContent, make([]byte, 64)), field(tagSparse, uv(0)))))
	f.Add(tree(entry(field(tagName, []byte("a")), field(tagType, uv(2)), field(tagSubtree, nil), field(tagTarget, nil))))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, body []byte) {
		nodes, err := DecodeTree(body)
		if err != nil {
			return
		}
		for i := range nodes {
			if err := nodes[i].Validate(); err != nil {
				t.Fatalf("decoded node %d fails Validate: %v", i, err)
			}
		}
		canonical := EncodeTree(nodes)
		again, err := DecodeTree(canonical)
		if err != nil {
			t.Fatalf("canonical encoding rejected: %v", err)
		}
		if len(nodes) > 0 && !reflect.DeepEqual(again, nodes) {
			t.Fatalf("canonical encoding decodes differently:\n%+v\n%+v", again, nodes)
		}
		if len(again) != len(nodes) {
			t.Fatalf("%d nodes became %d", len(nodes), len(again))
		}
		if !bytes.Equal(EncodeTree(again), canonical) {
			t.Fatal("encoding is not stable")
		}
	})
}

// FuzzUnmarshalSnapshot checks that UnmarshalSnapshot never panics and that
// whatever it accepts marshals, and does so stably.
func FuzzUnmarshalSnapshot(f *testing.F) {
	body, err := sampleSnapshot().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	tree := `"tree":["` + strings.Repeat("ab", 32) + `"]`
	f.Add(body)
	f.Add([]byte(`{"version":1,"time":"2026-11-25T12:00:00Z",` + tree + `}`))
	f.Add([]byte(`{"version":1,"time":"2026-11-25T12:00:00.5+14:00",` + tree + `,"tags":[],"paths":null,"parent":"` + strings.Repeat("0", 64) + `"}`))
	f.Add([]byte(`{"version":1,"time":"0000-01-01T00:30:00+01:00",` + tree + `}`))
	f.Add([]byte(`{"version":1,"time":"9999-12-31T23:59:59-01:00",` + tree + `}`))
	f.Add([]byte(`{"version":1,"time":"2026-11-25T12:00:00Z",` + tree + `,"host":"\xff\u003c","skipped":[{}],"summary":{"duration_ns":-5}}`))
	f.Add([]byte(`{"VERSION":1,"Time":"2026-11-25T12:00:00Z","tree":["` + strings.Repeat("AB", 32) + `"]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := UnmarshalSnapshot(body)
		if err != nil {
			return
		}
		first, err := s.Marshal()
		if err != nil {
			t.Fatalf("accepted snapshot does not marshal: %v", err)
		}
		s2, err := UnmarshalSnapshot(first)
		if err != nil {
			t.Fatalf("marshaled snapshot rejected: %v\n%s", err, first)
		}
		second, err := s2.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("marshal not stable:\n%s\n%s", first, second)
		}
	})
}
