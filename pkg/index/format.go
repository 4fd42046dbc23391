package index

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// Entry says where one blob is stored.
type Entry struct {
	ID     crypto.ID
	Type   pack.BlobType
	Pack   crypto.ID
	Offset uint32
	Length uint32
	// PlainLen is the blob's plaintext length, 0 when not recorded
	// (indexes written before format 1.1, blobs of 16 MiB or more, and
	// indexes rebuilt from version-1 pack headers). Readers use it to
	// place a blob in its file before the blobs ahead of it are read, and
	// must check it against the decrypted blob.
	PlainLen uint32
}

// MaxPlainLen is the largest plaintext length an index entry records (24
// bits); longer blobs are recorded as 0 (unknown).
const MaxPlainLen = 1<<24 - 1

// recordedPlain is what an entry records for a plaintext length.
func recordedPlain(n uint32) uint32 {
	if n > MaxPlainLen {
		return 0
	}
	return n
}

// Layout of an index body (FORMAT.md section 7). The sizes are part of the
// repository format.
const (
	magic = "CAIRNIX1"
	// headerSize is magic || npacks || nsupersedes || nentries.
	headerSize = len(magic) + 3*4
	// recordSize is ID(32) || pack(4) || offset(4) || length(4) || type(1) || plain length(3).
	recordSize = crypto.IDSize + 4 + 4 + 4 + 4

	offPack   = crypto.IDSize
	offOffset = crypto.IDSize + 4
	offLength = crypto.IDSize + 8
	offType   = crypto.IDSize + 12
	offPlain  = crypto.IDSize + 13
)

// record is one entry with its pack given as a position in some pack table.
// It is 48 bytes, the same as the encoded form, and is what Encode sorts and
// what Set keeps for the blobs a run adds.
type record struct {
	id     crypto.ID
	pack   uint32
	offset uint32
	length uint32
	typ    pack.BlobType
	plain  uint32 // 24 bits
}

// appendRecord appends the 48-byte encoding of r.
func appendRecord(dst []byte, r *record) []byte {
	dst = append(dst, r.id[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, r.pack)
	dst = binary.LittleEndian.AppendUint32(dst, r.offset)
	dst = binary.LittleEndian.AppendUint32(dst, r.length)
	p := recordedPlain(r.plain)
	return append(dst, byte(r.typ), byte(p), byte(p>>8), byte(p>>16))
}

// decodeRecord decodes a 48-byte encoded record.
func decodeRecord(b []byte) record {
	var r record
	copy(r.id[:], b[:crypto.IDSize])
	r.pack = binary.LittleEndian.Uint32(b[offPack:])
	r.offset = binary.LittleEndian.Uint32(b[offOffset:])
	r.length = binary.LittleEndian.Uint32(b[offLength:])
	r.typ = pack.BlobType(b[offType])
	r.plain = uint32(b[offPlain]) | uint32(b[offPlain+1])<<8 | uint32(b[offPlain+2])<<16
	return r
}

// compareRecords orders records by ID, then pack position, then offset, then
// the remaining fields so that sorting is deterministic. Pack positions order
// like pack IDs only when the pack table is sorted, which Encode and Merge
// ensure for the tables they write.
func compareRecords(a, b *record) int {
	if c := compareIDs(&a.id, &b.id); c != 0 {
		return c
	}
	if c := cmp.Compare(a.pack, b.pack); c != 0 {
		return c
	}
	if c := cmp.Compare(a.offset, b.offset); c != 0 {
		return c
	}
	if c := cmp.Compare(a.length, b.length); c != 0 {
		return c
	}
	if c := cmp.Compare(a.typ, b.typ); c != 0 {
		return c
	}
	// A recorded plaintext length sorts before an unrecorded one, so the
	// duplicate that Encode and Merge keep is the one that knows it.
	return cmp.Compare(b.plain, a.plain)
}

// sameLocation reports whether two records name the same blob at the same
// place: the duplicates that Encode, Merge and LookupAll fold together.
func sameLocation(a, b *record) bool {
	return a.id == b.id && a.pack == b.pack && a.offset == b.offset
}

// compareIDs orders IDs; random IDs are nearly always told apart by their
// first 8 bytes.
func compareIDs(a, b *crypto.ID) int {
	if c := cmp.Compare(prefix(a[:]), prefix(b[:])); c != 0 {
		return c
	}
	return bytes.Compare(a[:], b[:])
}

// prefix returns the first 8 bytes of an ID as a big-endian number, which
// orders like the ID itself; Search interpolates on it.
func prefix(id []byte) uint64 { return binary.BigEndian.Uint64(id) }

// packTable assigns positions to pack IDs. Positions follow sorted pack-ID
// order once finish has been called, so record order by position equals the
// format's order by pack ID.
type packTable struct {
	ids []crypto.ID
	pos map[crypto.ID]uint32 // one per pack, not per blob
}

func newPackTable() *packTable {
	return &packTable{pos: make(map[crypto.ID]uint32)}
}

// add returns a provisional position for id.
func (t *packTable) add(id crypto.ID) uint32 {
	if p, ok := t.pos[id]; ok {
		return p
	}
	p := uint32(len(t.ids))
	t.ids = append(t.ids, id)
	t.pos[id] = p
	return p
}

// finish sorts the table and returns remap, where remap[provisional] is the
// final position.
func (t *packTable) finish() []uint32 {
	order := make([]uint32, len(t.ids))
	for i := range order {
		order[i] = uint32(i)
	}
	ids := t.ids
	slices.SortFunc(order, func(a, b uint32) int { return bytes.Compare(ids[a][:], ids[b][:]) })
	remap := make([]uint32, len(order))
	sorted := make([]crypto.ID, len(order))
	for final, prov := range order {
		remap[prov] = uint32(final)
		sorted[final] = ids[prov]
		t.pos[ids[prov]] = uint32(final)
	}
	t.ids = sorted
	return remap
}

// Encode returns the index body of FORMAT.md section 7 ("CAIRNIX1" …),
// without the compression byte or the encryption, which the repo package
// adds. It sorts a copy of entries by ID, then pack ID, then offset, drops
// exact duplicates (same ID, pack and offset), and writes a pack table
// sorted by pack ID. supersedes is written sorted and without repeats, so
// the same input always gives the same bytes (and so the same object name).
//
// Encode sorts 16-byte keys (the ID's first 8 bytes and the entry's
// position) rather than the entries themselves: random IDs almost never
// share 8 bytes, so comparisons are integer compares and swaps are cheap.
// Beyond the body it needs 20 bytes per entry (key and pack position).
func Encode(entries []Entry, supersedes []crypto.ID) []byte {
	table := newPackTable()
	packPos := make([]uint32, len(entries))
	for i := range entries {
		packPos[i] = table.add(entries[i].Pack)
	}
	remap := table.finish()
	keys := make([]sortKey, len(entries))
	for i := range entries {
		packPos[i] = remap[packPos[i]]
		keys[i] = sortKey{prefix: prefix(entries[i].ID[:]), pos: uint32(i)}
	}
	rec := func(i uint32) record {
		e := &entries[i]
		return record{id: e.ID, pack: packPos[i], offset: e.Offset, length: e.Length, typ: e.Type, plain: recordedPlain(e.PlainLen)}
	}
	slices.SortFunc(keys, func(a, b sortKey) int {
		if a.prefix != b.prefix {
			return cmp.Compare(a.prefix, b.prefix)
		}
		ra, rb := rec(a.pos), rec(b.pos)
		return compareRecords(&ra, &rb)
	})

	sup := slices.Clone(supersedes)
	sortIDs(sup)
	sup = slices.Compact(sup)

	body := make([]byte, 0, bodySize(len(table.ids), len(sup), len(entries)))
	body = appendHeader(body, len(table.ids), len(sup), 0)
	for i := range table.ids {
		body = append(body, table.ids[i][:]...)
	}
	for i := range sup {
		body = append(body, sup[i][:]...)
	}
	var last record
	n := 0
	for _, k := range keys {
		r := rec(k.pos)
		if n > 0 && sameLocation(&last, &r) {
			continue
		}
		body = appendRecord(body, &r)
		last = r
		n++
	}
	binary.LittleEndian.PutUint32(body[len(magic)+8:], uint32(n))
	return body
}

// sortKey is what Encode sorts.
type sortKey struct {
	prefix uint64
	pos    uint32
}

// bodySize is the size of a body with the given counts.
func bodySize(npacks, nsupersedes, nentries int) int {
	return headerSize + crypto.IDSize*(npacks+nsupersedes) + recordSize*nentries
}

// appendHeader appends magic and the three counts.
func appendHeader(dst []byte, npacks, nsupersedes, nentries int) []byte {
	dst = append(dst, magic...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(npacks))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(nsupersedes))
	return binary.LittleEndian.AppendUint32(dst, uint32(nentries))
}
