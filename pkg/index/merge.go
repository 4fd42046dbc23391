package index

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// droppedPack marks a pack position whose entries Merge leaves out.
const droppedPack = math.MaxUint32

// Merge returns one index body holding every entry of views, except those
// in packs for which drop reports true (drop may be nil), with exact
// duplicates (same ID, pack and offset) folded. The new body supersedes
// names and everything the input views supersede: carrying those forward
// means that deleting the inputs can never bring back an older index they
// had replaced, whatever order a crashed prune deleted files in.
//
// Merge is a streaming k-way merge over the raw 48-byte records of the
// (sorted) views: it holds the output body and one read buffer per view,
// never the entries as Go values. The inputs should have passed Validate;
// if they are not sorted, Merge notices and sorts its output, and it skips
// entries with an unknown type or a pack outside their table, so the result
// is always a valid body.
//
// Merge panics if a file view cannot be read (a disk error under the cache
// directory): an index silently missing entries could make prune delete
// live data, and Merge has no error result. TryMerge returns the error
// instead.
func Merge(views []*View, names []crypto.ID, drop func(pack crypto.ID) bool) []byte {
	body, err := TryMerge(views, names, drop)
	if err != nil {
		panic(fmt.Sprintf("index: merge: %v", err))
	}
	return body
}

// TryMerge is Merge with read errors of file views returned.
func TryMerge(views []*View, names []crypto.ID, drop func(pack crypto.ID) bool) ([]byte, error) {
	table := newPackTable()
	remaps := make([][]uint32, len(views))
	sup := slices.Clone(names)
	total := 0
	for k, v := range views {
		packs := v.Packs()
		if err := v.Err(); err != nil {
			return nil, err
		}
		remaps[k] = make([]uint32, len(packs))
		for p, id := range packs {
			if drop != nil && drop(id) {
				remaps[k][p] = droppedPack
				continue
			}
			remaps[k][p] = table.add(id)
		}
		sup = append(sup, v.sup...)
		total += v.nentries
	}
	final := table.finish()
	for _, remap := range remaps {
		for p, prov := range remap {
			if prov != droppedPack {
				remap[p] = final[prov]
			}
		}
	}
	sortIDs(sup)
	sup = slices.Compact(sup)

	body := make([]byte, 0, bodySize(len(table.ids), len(sup), total))
	body = appendHeader(body, len(table.ids), len(sup), 0)
	for i := range table.ids {
		body = append(body, table.ids[i][:]...)
	}
	for i := range sup {
		body = append(body, sup[i][:]...)
	}
	entOff := len(body)

	h := make(cursors, 0, len(views))
	for k, v := range views {
		c := cursor{sc: v.scan(0), remap: remaps[k]}
		if c.advance() {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	var last record
	n, unsorted := 0, false
	for len(h) > 0 {
		c := &h[0]
		r := c.cur
		switch {
		case n > 0 && sameLocation(&last, &r):
			// An exact duplicate: keep the first.
		default:
			unsorted = unsorted || (n > 0 && compareRecords(&last, &r) > 0)
			body = appendRecord(body, &r)
			last = r
			n++
		}
		if c.advance() {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	for _, v := range views {
		if err := v.Err(); err != nil {
			return nil, err
		}
	}
	if unsorted {
		body, n = sortRecords(body, entOff)
	}
	binary.LittleEndian.PutUint32(body[len(magic)+8:], uint32(n))
	return body, nil
}

// sortRecords sorts and deduplicates the records from off on; Merge needs
// it only for inputs that were not valid.
func sortRecords(body []byte, off int) ([]byte, int) {
	recs := make([]record, 0, (len(body)-off)/recordSize)
	for i := off; i < len(body); i += recordSize {
		recs = append(recs, decodeRecord(body[i:]))
	}
	slices.SortFunc(recs, func(a, b record) int { return compareRecords(&a, &b) })
	recs = slices.CompactFunc(recs, func(a, b record) bool { return sameLocation(&a, &b) })
	body = body[:off]
	for i := range recs {
		body = appendRecord(body, &recs[i])
	}
	return body, len(recs)
}

// cursor walks one view's records.
type cursor struct {
	sc    *scanner
	remap []uint32 // input pack position → output position or droppedPack
	cur   record   // current record, with its output pack position
}

// advance moves to the next record that is neither dropped nor invalid and
// reports whether there is one.
func (c *cursor) advance() bool {
	for r := c.sc.next(); r != nil; r = c.sc.next() {
		p := binary.LittleEndian.Uint32(r[offPack:])
		if uint64(p) < uint64(len(c.remap)) && c.remap[p] != droppedPack && pack.BlobType(r[offType]).Valid() {
			c.cur = decodeRecord(r)
			c.cur.pack = c.remap[p]
			return true
		}
	}
	return false
}

// cursors is a min-heap by current record.
type cursors []cursor

func (h cursors) Len() int           { return len(h) }
func (h cursors) Less(i, j int) bool { return compareRecords(&h[i].cur, &h[j].cur) < 0 }
func (h cursors) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursors) Push(x any)        { *h = append(*h, x.(cursor)) }
func (h *cursors) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

func sortIDs(ids []crypto.ID) {
	slices.SortFunc(ids, func(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) })
}
