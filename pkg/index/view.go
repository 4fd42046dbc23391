package index

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// ErrCorrupt means an index body does not follow FORMAT.md section 7.
var ErrCorrupt = errors.New("corrupt index")

// View is a read-only view of one encoded index body. It never decodes the
// entries into Go values: every accessor reads the fixed-size records it
// needs. A view holds its body either in memory (NewView) or in a cache
// file that it reads with pread(2) (Cache.Load); a file view keeps in
// memory only a fence table and a 16-bit fingerprint per entry (see
// search.go), about 2.125 bytes per entry.
//
// A View is safe for concurrent use. A file view's reads can fail (a disk
// error, or use after Cache.Close); methods without an error result then
// act as if the entry were absent, and Err reports the first failure.
type View struct {
	body     []byte   // in-memory view: the whole body; nil for a file view
	file     *os.File // file view: the body starts at offset 0
	fences   []uint64 // file view: ID prefix of every fenceStride-th entry
	fps      []uint16 // file view: fingerprint of every entry, in entry order
	sup      []crypto.ID
	first    uint64 // ID prefix of the first entry
	last     uint64 // ID prefix of the last entry
	npacks   int
	nsup     int
	nentries int
	supOff   int // start of the supersedes list
	entOff   int // start of the entries

	errMu sync.Mutex
	err   error

	// recentPacks caches pack IDs a file view read, by table position
	// modulo its size: lookups come in runs from the same few packs (a
	// restore plans file after file), so most cost one pread instead of
	// two. Fixed size, whatever the index holds.
	recentPacks [recentPackSlots]atomic.Pointer[recentPack]
}

// recentPackSlots is the size of View.recentPacks (9 KiB per view).
const recentPackSlots = 256

type recentPack struct {
	pos uint32
	id  crypto.ID
}

// NewView checks the magic and that the body's size matches its counts
// without scanning the entries: it reads the header, the supersedes list and
// the first and last entries. A view that passed only NewView
// is safe to read (no accessor panics for an index in [0, Len())), but its
// entries may be unsorted or point outside the pack table; Validate checks
// those. The body must not change while the view is in use.
func NewView(body []byte) (*View, error) {
	v, err := newLayout(body, int64(len(body)))
	if err != nil {
		return nil, err
	}
	v.body = body
	v.sup = v.idList(v.supOff, v.nsup)
	if v.nentries > 0 {
		v.first, v.last = prefix(v.rec(0)), prefix(v.rec(v.nentries-1))
	}
	return v, nil
}

// newLayout checks a header against the body size and returns a view with
// the counts and offsets filled in.
func newLayout(header []byte, size int64) (*View, error) {
	if len(header) < headerSize || size < int64(headerSize) {
		return nil, fmt.Errorf("%w: body of %d bytes is shorter than the %d-byte header", ErrCorrupt, size, headerSize)
	}
	if string(header[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrCorrupt, header[:len(magic)])
	}
	np := binary.LittleEndian.Uint32(header[len(magic):])
	ns := binary.LittleEndian.Uint32(header[len(magic)+4:])
	ne := binary.LittleEndian.Uint32(header[len(magic)+8:])
	// 64-bit arithmetic cannot overflow here: the counts are below 2^32.
	want := uint64(headerSize) + crypto.IDSize*(uint64(np)+uint64(ns)) + recordSize*uint64(ne)
	if uint64(size) != want {
		return nil, fmt.Errorf("%w: body is %d bytes, but %d packs, %d superseded indexes and %d entries need %d",
			ErrCorrupt, size, np, ns, ne, want)
	}
	v := &View{npacks: int(np), nsup: int(ns), nentries: int(ne)}
	v.supOff = headerSize + crypto.IDSize*v.npacks
	v.entOff = v.supOff + crypto.IDSize*v.nsup
	return v, nil
}

// Validate checks every entry: known blob type, pack position
// inside the pack table, and order (by ID, then pack ID, then offset; equal
// neighbours are allowed). It reads the whole body, so it is meant for a body
// just downloaded or about to be cached, not for every open.
func (v *View) Validate() error {
	var prev [recordSize]byte
	sc := v.scan(0)
	for i := 0; ; i++ {
		r := sc.next()
		if r == nil {
			return v.Err()
		}
		if t := pack.BlobType(r[offType]); !t.Valid() {
			return fmt.Errorf("%w: entry %d has unknown blob type %d", ErrCorrupt, i, r[offType])
		}
		if p := binary.LittleEndian.Uint32(r[offPack:]); uint64(p) >= uint64(v.npacks) {
			return fmt.Errorf("%w: entry %d names pack %d of a %d-pack table", ErrCorrupt, i, p, v.npacks)
		}
		if i > 0 && v.compareRaw(prev[:], r) > 0 {
			return fmt.Errorf("%w: entries %d and %d are out of order", ErrCorrupt, i-1, i)
		}
		copy(prev[:], r)
	}
}

// compareRaw orders two raw records as the format requires: ID, pack ID,
// offset.
func (v *View) compareRaw(a, b []byte) int {
	if pa, pb := prefix(a), prefix(b); pa != pb {
		return cmp.Compare(pa, pb)
	}
	ra, rb := decodeRecord(a), decodeRecord(b)
	if c := compareIDs(&ra.id, &rb.id); c != 0 {
		return c
	}
	if ra.pack != rb.pack {
		pa, _ := v.packID(ra.pack)
		pb, _ := v.packID(rb.pack)
		if c := compareIDs(&pa, &pb); c != 0 {
			return c
		}
	}
	return cmp.Compare(ra.offset, rb.offset)
}

// Len is the number of entries.
func (v *View) Len() int { return v.nentries }

// Entry decodes entry i, which must be in [0, Len()). An entry whose pack
// position is outside the table (possible only in a body that failed
// Validate) gets a zero pack ID; so does every entry of a file view that
// cannot be read, which also gets a zero ID.
func (v *View) Entry(i int) Entry {
	if i < 0 || i >= v.nentries {
		panic(fmt.Sprintf("index: entry %d of %d", i, v.nentries))
	}
	var buf [recordSize]byte
	r, ok := v.records(i, 1, buf[:])
	if !ok {
		return Entry{}
	}
	return v.entry(r)
}

// entry decodes a raw record of this view.
func (v *View) entry(r []byte) Entry {
	e, _ := v.entryOK(r)
	return e
}

// entryOK decodes a raw record and reports whether its pack ID is known.
func (v *View) entryOK(r []byte) (Entry, bool) {
	rec := decodeRecord(r)
	e := Entry{ID: rec.id, Type: rec.typ, Offset: rec.offset, Length: rec.length, PlainLen: rec.plain}
	var ok bool
	e.Pack, ok = v.packID(rec.pack)
	return e, ok
}

// Packs returns a copy of the pack table (nil if a file view cannot be
// read).
func (v *View) Packs() []crypto.ID {
	return v.idList(headerSize, v.npacks)
}

// Supersedes returns a copy of the list of index objects this one contains.
func (v *View) Supersedes() []crypto.ID {
	return append([]crypto.ID(nil), v.sup...)
}

// Err returns the first read error of a file view, or nil.
func (v *View) Err() error {
	v.errMu.Lock()
	defer v.errMu.Unlock()
	return v.err
}

// fail records a read error.
func (v *View) fail(err error) {
	v.errMu.Lock()
	if v.err == nil {
		v.err = fmt.Errorf("read cached index %s: %w", v.file.Name(), err)
	}
	v.errMu.Unlock()
}

// readAt fills p from the body at off; for a file view, a failure is
// recorded and reported as false.
func (v *View) readAt(p []byte, off int) bool {
	if v.file == nil {
		copy(p, v.body[off:])
		return true
	}
	if _, err := v.file.ReadAt(p, int64(off)); err != nil {
		v.fail(err)
		return false
	}
	return true
}

// records returns the raw records [i, i+n): a slice of the body for an
// in-memory view, else read into buf (which must hold n records).
func (v *View) records(i, n int, buf []byte) ([]byte, bool) {
	off := v.entOff + i*recordSize
	if v.file == nil {
		return v.body[off : off+n*recordSize : off+n*recordSize], true
	}
	buf = buf[:n*recordSize]
	return buf, v.readAt(buf, off)
}

// packID returns the pack ID at table position p; false (and a zero ID)
// when p is outside the table or cannot be read.
func (v *View) packID(p uint32) (crypto.ID, bool) {
	var id crypto.ID
	if uint64(p) >= uint64(v.npacks) {
		return id, false
	}
	if v.file == nil {
		return crypto.ID(v.body[headerSize+int(p)*crypto.IDSize:]), true
	}
	slot := &v.recentPacks[p%recentPackSlots]
	if c := slot.Load(); c != nil && c.pos == p {
		return c.id, true
	}
	if !v.readAt(id[:], headerSize+int(p)*crypto.IDSize) {
		return id, false
	}
	slot.Store(&recentPack{pos: p, id: id})
	return id, true
}

func (v *View) idList(off, n int) []crypto.ID {
	buf := make([]byte, n*crypto.IDSize)
	if !v.readAt(buf, off) {
		return nil
	}
	out := make([]crypto.ID, n)
	for i := range out {
		out[i] = crypto.ID(buf[i*crypto.IDSize:])
	}
	return out
}

// scanChunk is how many records a scan of a file view reads per read(2):
// 48 KiB, through a buffer the scan reuses, so scanning a cached index
// costs no more memory than that however big the index is.
const scanChunk = 1024

// scanner reads a view's records in order.
type scanner struct {
	v    *View
	i    int    // next record
	buf  []byte // file views: records base, base+1, … read so far
	base int
	mem  []byte // file views: storage for buf
}

func (v *View) scan(from int) *scanner { return &scanner{v: v, i: from} }

// next returns the next raw record, valid until the following call, or nil
// at the end or after a read error (which the view's Err reports).
func (s *scanner) next() []byte {
	v := s.v
	if s.i >= v.nentries {
		return nil
	}
	if v.file == nil {
		r := v.rec(s.i)
		s.i++
		return r
	}
	if s.i >= s.base+len(s.buf)/recordSize || s.i < s.base {
		n := min(scanChunk, v.nentries-s.i)
		if len(s.mem) < n*recordSize {
			s.mem = make([]byte, n*recordSize)
		}
		buf, ok := v.records(s.i, n, s.mem)
		if !ok {
			s.i = v.nentries
			return nil
		}
		s.buf, s.base = buf, s.i
	}
	off := (s.i - s.base) * recordSize
	s.i++
	return s.buf[off : off+recordSize : off+recordSize]
}
