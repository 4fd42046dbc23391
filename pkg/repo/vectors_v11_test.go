package repo

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
	"github.com/klauspost/compress/zstd"
)

// Format 1.1 vectors (FORMAT.md sections 6, 7 and 9): a data pack of
// several blobs, one of them zstd-compressed, a tree pack whose tree blob
// lists them, and one index of both packs, all with plaintext lengths. The
// independent implementation below builds them from the page (the zstd
// frame too, by hand from RFC 8878, so the bytes do not depend on a
// compressor's version); the real readers read them back, and the real
// writers' output is read by the independent reader.

type vecBlob struct {
	ID          string `json:"id"`
	Type        int    `json:"type"`
	Offset      int    `json:"offset"`
	Length      int    `json:"length"`
	PlainLength int    `json:"plain_length"`
	Compression int    `json:"compression"`
	Plaintext   string `json:"plaintext"` // hex
}

type vecPack struct {
	Name   string    `json:"name"`
	Stored string    `json:"stored"` // hex
	Blobs  []vecBlob `json:"blobs"`
}

type vectorsV11 struct {
	Comment   string  `json:"comment"`
	DataPack  vecPack `json:"data_pack"`
	TreePack  vecPack `json:"tree_pack"`
	TreeBody  string  `json:"tree_body"` // hex of the tree blob listing the files
	EmptyTree string  `json:"empty_tree"`
	Index     struct {
		Name   string `json:"name"`
		Stored string `json:"stored"`
		Body   string `json:"body"`
	} `json:"index"`
}

// vecZstdFrame is one zstd frame (RFC 8878) of a raw block holding head
// and an RLE block of n copies of b: single segment, content size given,
// no checksum.
func vecZstdFrame(head []byte, b byte, n int) []byte {
	size := len(head) + n
	if size < 256 || size > 65535+256 || n > 128<<10 {
		panic("vecZstdFrame: sizes outside the 2-byte content size field")
	}
	f := []byte{0x28, 0xb5, 0x2f, 0xfd} // magic 0xFD2FB528, little-endian
	f = append(f, 0x60)                 // FCS flag 1 (2 bytes), single segment
	f = binary.LittleEndian.AppendUint16(f, uint16(size-256))
	blockHeader := func(last, typ, size int) []byte {
		v := uint32(last | typ<<1 | size<<3)
		return []byte{byte(v), byte(v >> 8), byte(v >> 16)}
	}
	f = append(f, blockHeader(0, 0, len(head))...) // raw block
	f = append(f, head...)
	f = append(f, blockHeader(1, 1, n)...) // RLE block, last
	return append(f, b)
}

// Tree encoding from FORMAT.md section 9, without pkg/snapshot.
func vecField(tag uint64, value []byte) []byte {
	f := binary.AppendUvarint(nil, tag)
	f = binary.AppendUvarint(f, uint64(len(value)))
	return append(f, value...)
}

func vecUint(tag, v uint64) []byte { return vecField(tag, binary.AppendUvarint(nil, v)) }

func vecTime(tag uint64, ns int64) []byte {
	return vecUint(tag, uint64(ns<<1)^uint64(ns>>63))
}

func vecEntry(fields ...[]byte) []byte {
	f := bytes.Join(fields, nil)
	return append(binary.AppendUvarint(nil, uint64(len(f))), f...)
}

// The tree's values, shared by the builder and the expected nodes.
const (
	vecMTime = 1764633600123456789
	vecCTime = 1764633601000000001
)

type vecPlain struct {
	t       pack.BlobType
	plain   []byte
	payload []byte // compression byte || body
}

// vecBuildPack seals blobs (nonces nonce, nonce+1, …; the header gets the
// next one) into a CAIRNPK2 pack.
func vecBuildPack(encKey, idKey []byte, nonce byte, blobs []vecPlain) ([]byte, []vecBlob) {
	var p, hdr []byte
	hdr = append([]byte{0}, "CAIRNPK2"...)
	hdr = le32(hdr, len(blobs))
	var out []vecBlob
	for _, b := range blobs {
		mac := hmac.New(sha256.New, idKey)
		mac.Write(b.plain)
		id := mac.Sum(nil)
		sealed := vecSeal(encKey, nonce, b.payload, append(append([]byte("cairn 1 blob"), byte(b.t)), id...))
		nonce++
		out = append(out, vecBlob{ID: hex.EncodeToString(id), Type: int(b.t), Offset: len(p), Length: len(sealed),
			PlainLength: len(b.plain), Compression: int(b.payload[0]), Plaintext: hex.EncodeToString(b.plain)})
		hdr = append(append(hdr, byte(b.t)), id...)
		hdr = le32(le32(le32(hdr, len(p)), len(sealed)), len(b.plain))
		p = append(p, sealed...)
	}
	sealedHdr := vecSeal(encKey, nonce, hdr, []byte("cairn 1 pack header"))
	p = append(append(p, sealedHdr...), le32(nil, len(sealedHdr))...)
	return p, out
}

func vecPackName(p []byte) string {
	h := vecHash(p)
	return "data/" + h[:2] + "/" + h
}

func buildVectorsV11(master []byte) *vectorsV11 {
	encKey := vecSubkey(master, "cairn 1 encryption key")
	idKey := vecSubkey(master, "cairn 1 content id key")
	v := &vectorsV11{Comment: "Format 1.1: plaintext lengths in CAIRNPK2 headers and index entries; a zstd blob (hand-made frame: a raw and an RLE block); a tree blob with every entry type; same master key as above."}

	zBody := append([]byte("zstd: "), bytes.Repeat([]byte{'z'}, 2000)...)
	data := []vecPlain{
		{pack.DataBlob, []byte("first chunk of a.txt\n"), nil},
		{pack.DataBlob, zBody, append([]byte{1}, vecZstdFrame([]byte("zstd: "), 'z', 2000)...)},
		{pack.DataBlob, []byte("x's only chunk"), nil},
	}
	for i := range data {
		if data[i].payload == nil {
			data[i].payload = append([]byte{0}, data[i].plain...)
		}
	}
	dp, dblobs := vecBuildPack(encKey, idKey, 0x21, data)
	v.DataPack = vecPack{Name: vecPackName(dp), Stored: hex.EncodeToString(dp), Blobs: dblobs}

	id := func(b vecBlob) []byte { x, _ := hex.DecodeString(b.ID); return x }
	empty := []byte{0x01}
	emptyMAC := hmac.New(sha256.New, idKey)
	emptyMAC.Write(empty)
	emptyID := emptyMAC.Sum(nil)
	const major, minor = 1, 3
	rawDev := uint64(minor&0xff | (major&0xfff)<<8) // Linux dev_t of 1:3
	tree := []byte{0x01}
	tree = append(tree, vecEntry(
		vecField(1, []byte("a.txt")), vecUint(2, 1), vecUint(3, 0o644), vecUint(4, 1000), vecUint(5, 1000),
		vecField(6, []byte("alice")), vecField(7, []byte("staff")), vecTime(8, vecMTime), vecTime(9, vecCTime),
		vecUint(11, uint64(len(data[0].plain)+len(data[1].plain))), vecUint(12, 131073), vecUint(13, 2049), vecUint(14, 1),
		vecField(18, append(id(dblobs[0]), id(dblobs[1])...)),
	)...)
	tree = append(tree, vecEntry(
		vecField(1, []byte("link")), vecUint(2, 3), vecUint(3, 0o777), vecTime(8, -1), vecField(15, []byte("a.txt")),
	)...)
	tree = append(tree, vecEntry(
		vecField(1, []byte("null")), vecUint(2, 5), vecUint(3, 0o666), vecTime(8, vecMTime), vecTime(9, vecCTime),
		vecUint(12, 5), vecUint(13, 5), vecUint(14, 1), vecUint(16, rawDev), vecUint(21, major), vecUint(22, minor),
	)...)
	tree = append(tree, vecEntry(
		vecField(1, []byte("sub")), vecUint(2, 2), vecUint(3, 0o755), vecTime(8, vecMTime), vecUint(14, 2),
		vecField(19, emptyID),
	)...)
	xattr := append(binary.AppendUvarint(nil, uint64(len("user.tag"))), "user.tagred"...)
	tree = append(tree, vecEntry(
		vecField(1, []byte("x")), vecUint(2, 1), vecUint(3, 0o600), vecUint(11, uint64(len(data[2].plain))),
		vecField(17, xattr), vecField(18, id(dblobs[2])), vecUint(20, 1),
	)...)
	v.TreeBody = hex.EncodeToString(tree)
	v.EmptyTree = hex.EncodeToString(empty)
	tp, tblobs := vecBuildPack(encKey, idKey, 0x31, []vecPlain{
		{pack.TreeBlob, tree, append([]byte{0}, tree...)},
		{pack.TreeBlob, empty, append([]byte{0}, empty...)},
	})
	v.TreePack = vecPack{Name: vecPackName(tp), Stored: hex.EncodeToString(tp), Blobs: tblobs}

	// The index of both packs: pack table sorted by pack ID, entries by
	// blob ID.
	type ent struct {
		b    vecBlob
		pack string
	}
	var ents []ent
	for _, b := range dblobs {
		ents = append(ents, ent{b, v.DataPack.Name[len("data/xx/"):]})
	}
	for _, b := range tblobs {
		ents = append(ents, ent{b, v.TreePack.Name[len("data/xx/"):]})
	}
	slices.SortFunc(ents, func(a, b ent) int { return strings.Compare(a.b.ID, b.b.ID) })
	table := []string{v.DataPack.Name[len("data/xx/"):], v.TreePack.Name[len("data/xx/"):]}
	slices.Sort(table) // hex sorts as the bytes do
	pos := map[string]int{table[0]: 0, table[1]: 1}
	body := []byte("CAIRNIX1")
	body = le32(le32(le32(body, len(table)), 0), len(ents))
	for _, p := range table {
		x, _ := hex.DecodeString(p)
		body = append(body, x...)
	}
	for _, e := range ents {
		body = append(body, id(e.b)...)
		body = le32(le32(le32(body, pos[e.pack]), e.b.Offset), e.b.Length)
		body = append(body, byte(e.b.Type), byte(e.b.PlainLength), byte(e.b.PlainLength>>8), byte(e.b.PlainLength>>16))
	}
	stored := vecSeal(encKey, 0x41, append([]byte{0}, body...), []byte("cairn 1 index"))
	v.Index.Name = "index/" + vecHash(stored)
	v.Index.Stored = hex.EncodeToString(stored)
	v.Index.Body = hex.EncodeToString(body)
	return v
}

// vecExpectedNodes is the tree of buildVectorsV11 as pkg/snapshot nodes.
func vecExpectedNodes(t *testing.T, v *vectorsV11) []snapshot.Node {
	ids := func(bs ...vecBlob) []crypto.ID {
		var out []crypto.ID
		for _, b := range bs {
			id, err := crypto.ParseID(b.ID)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	d, tr := v.DataPack.Blobs, v.TreePack.Blobs
	return []snapshot.Node{
		{Name: []byte("a.txt"), Type: snapshot.NodeFile, Mode: 0o644, UID: 1000, GID: 1000, User: "alice", Group: "staff",
			MTime: vecMTime, CTime: vecCTime, Size: uint64(d[0].PlainLength + d[1].PlainLength), Inode: 131073, Device: 2049, Links: 1,
			Content: ids(d[0], d[1])},
		{Name: []byte("link"), Type: snapshot.NodeSymlink, Mode: 0o777, MTime: -1, LinkTarget: []byte("a.txt")},
		{Name: []byte("null"), Type: snapshot.NodeCharDev, Mode: 0o666, MTime: vecMTime, CTime: vecCTime, Inode: 5, Device: 5, Links: 1,
			Rdev: snapshot.MakeDev(1, 3)},
		{Name: []byte("sub"), Type: snapshot.NodeDir, Mode: 0o755, MTime: vecMTime, Links: 2, Subtree: ids(tr[1])},
		{Name: []byte("x"), Type: snapshot.NodeFile, Mode: 0o600, Size: uint64(d[2].PlainLength),
			Xattrs: []snapshot.Xattr{{Name: "user.tag", Value: []byte("red")}}, Content: ids(d[2]), Sparse: true},
	}
}

// vecReadPack is the independent reader of a pack: it parses the header
// and opens and decompresses every blob, checking content IDs.
func vecReadPack(encKey, idKey, p []byte) ([]vecBlob, error) {
	if len(p) < 4 {
		return nil, errors.New("short pack")
	}
	hlen := int(binary.LittleEndian.Uint32(p[len(p)-4:]))
	if hlen > len(p)-4 {
		return nil, errors.New("header length")
	}
	hdr, err := vecOpen(encKey, p[len(p)-4-hlen:len(p)-4], []byte("cairn 1 pack header"))
	if err != nil {
		return nil, err
	}
	if hdr[0] != 0 || string(hdr[1:9]) != "CAIRNPK2" {
		return nil, fmt.Errorf("header starts %x", hdr[:9])
	}
	n := int(binary.LittleEndian.Uint32(hdr[9:]))
	if len(hdr) != 13+45*n {
		return nil, fmt.Errorf("header of %d bytes for %d entries", len(hdr), n)
	}
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	var out []vecBlob
	for i := range n {
		e := hdr[13+45*i:]
		b := vecBlob{ID: hex.EncodeToString(e[1:33]), Type: int(e[0]), Offset: int(binary.LittleEndian.Uint32(e[33:])),
			Length: int(binary.LittleEndian.Uint32(e[37:])), PlainLength: int(binary.LittleEndian.Uint32(e[41:]))}
		payload, err := vecOpen(encKey, p[b.Offset:b.Offset+b.Length], append([]byte("cairn 1 blob"), e[:33]...))
		if err != nil {
			return nil, fmt.Errorf("blob %d: %w", i, err)
		}
		b.Compression = int(payload[0])
		plain := payload[1:]
		if b.Compression == 1 {
			if plain, err = dec.DecodeAll(payload[1:], nil); err != nil {
				return nil, err
			}
		}
		mac := hmac.New(sha256.New, idKey)
		mac.Write(plain)
		if hex.EncodeToString(mac.Sum(nil)) != b.ID || len(plain) != b.PlainLength {
			return nil, fmt.Errorf("blob %d: content ID or plaintext length differs", i)
		}
		b.Plaintext = hex.EncodeToString(plain)
		out = append(out, b)
	}
	return out, nil
}

func TestVectorsV11(t *testing.T) {
	var v vectors
	loadVectorsFile(t, &v)
	built := buildVectors()
	if v.V11 == nil || !reflect.DeepEqual(built.V11, v.V11) {
		t.Fatalf("%s: format 1.1 vectors missing or different from the independent builder; regenerate with -update only for an intended format change", vectorsFile)
	}
	w := v.V11
	master := unhex(t, v.MasterKey)
	encKey, idKey := vecSubkey(master, "cairn 1 encryption key"), vecSubkey(master, "cairn 1 content id key")
	// The independent reader reads what the independent builder wrote.
	for _, p := range []vecPack{w.DataPack, w.TreePack} {
		got, err := vecReadPack(encKey, idKey, unhex(t, p.Stored))
		if err != nil || !reflect.DeepEqual(got, p.Blobs) {
			t.Fatalf("independent reader, %s: %v\n%+v\nwant %+v", p.Name, err, got, p.Blobs)
		}
	}

	// The real readers.
	ctx := context.Background()
	store := mem.New()
	rawPut(t, store, v.KeyFile.Name, []byte(v.KeyFile.Stored))
	rawPut(t, store, "config", unhex(t, v.Config.Stored))
	for _, p := range []vecPack{w.DataPack, w.TreePack} {
		rawPut(t, store, p.Name, unhex(t, p.Stored))
	}
	rawPut(t, store, w.Index.Name, unhex(t, w.Index.Stored))
	r, err := Open(ctx, store, []byte(v.Passphrase), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	var indexEntries []index.Entry
	for _, p := range []vecPack{w.DataPack, w.TreePack} {
		packID, _ := crypto.ParseID(p.Name[len("data/xx/"):])
		hdr, _, err := r.ReadPackHeader(ctx, packID)
		if err != nil || len(hdr) != len(p.Blobs) {
			t.Fatalf("ReadPackHeader %s: %+v %v", p.Name, hdr, err)
		}
		var entries []index.Entry
		for i, b := range p.Blobs {
			id, _ := crypto.ParseID(b.ID)
			want := pack.Entry{Type: pack.BlobType(b.Type), ID: id, Offset: uint32(b.Offset), Length: uint32(b.Length), PlainLen: uint32(b.PlainLength)}
			if hdr[i] != want {
				t.Errorf("header entry %d: %+v, want %+v", i, hdr[i], want)
			}
			e, ok := r.Index().Lookup(id)
			ie := index.Entry{ID: id, Type: want.Type, Pack: packID, Offset: want.Offset, Length: want.Length, PlainLen: want.PlainLen}
			if !ok || e != ie {
				t.Errorf("index entry of %s: %+v, want %+v", id.Short(), e, ie)
			}
			entries = append(entries, ie)
			plain, err := r.LoadBlob(ctx, want.Type, id)
			if err != nil || hex.EncodeToString(plain) != b.Plaintext {
				t.Errorf("LoadBlob %s: %v", id.Short(), err)
			}
		}
		var n int
		err = r.LoadPackBlobs(ctx, packID, entries, PackReadOptions{WholePack: true}, func(e index.Entry, plain []byte, err error) error {
			n++
			if err != nil || len(plain) != int(e.PlainLen) || r.Keys().BlobID(plain) != e.ID {
				t.Errorf("LoadPackBlobs %s: %v", e.ID.Short(), err)
			}
			return nil
		})
		if err != nil || n != len(entries) {
			t.Errorf("LoadPackBlobs %s: %d blobs, %v", p.Name, n, err)
		}
		indexEntries = append(indexEntries, entries...)
	}
	// The real writer's index encoding matches byte for byte.
	if enc := index.Encode(indexEntries, nil); hex.EncodeToString(enc) != w.Index.Body {
		t.Errorf("index.Encode =\n%x\nwant\n%s", enc, w.Index.Body)
	}

	// The tree: the real decoder reads it, the real encoder writes the same
	// bytes, and its files read back through the index.
	nodes, err := snapshot.DecodeTree(unhex(t, w.TreeBody))
	want := vecExpectedNodes(t, w)
	if err != nil || !reflect.DeepEqual(nodes, want) {
		t.Fatalf("DecodeTree: %v\n%+v\nwant\n%+v", err, nodes, want)
	}
	if enc := snapshot.EncodeTree(want); hex.EncodeToString(enc) != w.TreeBody {
		t.Errorf("EncodeTree =\n%x\nwant\n%s", enc, w.TreeBody)
	}
	if enc := snapshot.EncodeTree(nil); hex.EncodeToString(enc) != w.EmptyTree {
		t.Errorf("empty tree %x", enc)
	}
	var content []byte
	for _, id := range nodes[0].Content {
		b, err := r.LoadBlob(ctx, pack.DataBlob, id)
		if err != nil {
			t.Fatal(err)
		}
		content = append(content, b...)
	}
	if uint64(len(content)) != nodes[0].Size || !bytes.HasPrefix(content, []byte("first chunk")) {
		t.Errorf("a.txt reads back as %q", content)
	}
}

// TestWriterConformanceV11 reads what the real writers produce (random
// nonces, real zstd) with the independent reader: a data pack of several
// blobs, one compressible, and the index naming them with their lengths.
func TestWriterConformanceV11(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	encKey := vecSubkey(r.master[:], "cairn 1 encryption key")
	idKey := vecSubkey(r.master[:], "cairn 1 content id key")
	plains := [][]byte{[]byte("short, stored raw"), bytes.Repeat([]byte("compressible "), 500), {0xff}}
	s := r.NewSaver(ctx, SaverOptions{})
	var ids []crypto.ID
	for _, p := range plains {
		id, err := s.SaveBlob(ctx, pack.DataBlob, p)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	packs := names(t, store, "data/")
	if len(packs) != 1 {
		t.Fatal(packs)
	}
	blobs, err := vecReadPack(encKey, idKey, rawGet(t, store, packs[0]))
	if err != nil || len(blobs) != len(plains) {
		t.Fatalf("independent reader: %+v %v", blobs, err)
	}
	for i, b := range blobs {
		if b.ID != ids[i].String() || b.Plaintext != hex.EncodeToString(plains[i]) {
			t.Errorf("blob %d: %+v", i, b)
		}
	}
	if blobs[1].Compression != 1 || blobs[0].Compression != 0 {
		t.Errorf("compression bytes %d %d: want raw for the short blob, zstd for the repetitive one", blobs[0].Compression, blobs[1].Compression)
	}
	idx := names(t, store, "index/")
	if len(idx) != 1 {
		t.Fatal(idx)
	}
	payload, err := vecOpen(encKey, rawGet(t, store, idx[0]), []byte("cairn 1 index"))
	if err != nil {
		t.Fatal(err)
	}
	body := payload[1:]
	if payload[0] == 1 {
		dec, _ := zstd.NewReader(nil)
		defer dec.Close()
		if body, err = dec.DecodeAll(payload[1:], nil); err != nil {
			t.Fatal(err)
		}
	}
	n := int(binary.LittleEndian.Uint32(body[16:]))
	if string(body[:8]) != "CAIRNIX1" || binary.LittleEndian.Uint32(body[8:]) != 1 || n != 3 || len(body) != 20+32+48*n {
		t.Fatalf("index body %x", body)
	}
	byID := map[string]vecBlob{}
	for _, b := range blobs {
		byID[b.ID] = b
	}
	prev := ""
	for i := range n {
		e := body[52+48*i:]
		id := hex.EncodeToString(e[:32])
		b := byID[id]
		plainLen := int(e[45]) | int(e[46])<<8 | int(e[47])<<16
		if id <= prev || binary.LittleEndian.Uint32(e[32:]) != 0 || int(binary.LittleEndian.Uint32(e[36:])) != b.Offset ||
			int(binary.LittleEndian.Uint32(e[40:])) != b.Length || e[44] != 1 || plainLen != b.PlainLength {
			t.Errorf("index entry %d: %x, want %+v", i, e[:48], b)
		}
		prev = id
	}
}
