package index

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"math"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// missingPack marks a pack position of a superseded view whose pack the
// superseding view's table does not hold: no entry in it can be contained.
const missingPack = math.MaxUint32

// Contains reports, for each view in vs, whether s holds every one of its
// entries: the same blob ID, type, pack ID, offset and length. It is the
// proof behind a supersedes claim. Anyone who may create index objects
// can write one whose supersedes list names the real index; believing such
// a claim unproven would hide every blob the named object lists and let
// index upkeep delete it.
//
// The proof is one merge walk: the records of vs, in the order of s (a
// k-way merge over their pack positions mapped into s's table), against
// one sequential scan of s. It reads s once and each view once, and holds
// one read buffer per view and the records of one location of s. An entry
// counts as found only when s has an equal record, so unsorted or hostile
// inputs can make a claim fail but never succeed falsely. s's pack table
// must be sorted (Encode and Merge write it so); if it is not, no claim is
// proven. A read error of a file view is returned, and the results are then
// meaningless.
func Contains(s *View, vs []*View) ([]bool, error) {
	ok := make([]bool, len(vs))
	sPacks := s.Packs()
	if err := s.Err(); err != nil {
		return nil, err
	}
	pos := make(map[crypto.ID]uint32, len(sPacks))
	for i := range sPacks {
		if i > 0 && bytes.Compare(sPacks[i-1][:], sPacks[i][:]) >= 0 {
			return ok, nil
		}
		pos[sPacks[i]] = uint32(i)
	}

	h := make(proofCursors, 0, len(vs))
	for k, v := range vs {
		packs := v.Packs()
		if err := v.Err(); err != nil {
			return nil, err
		}
		remap := make([]uint32, len(packs))
		for p, id := range packs {
			q, found := pos[id]
			if !found {
				q = missingPack
			}
			remap[p] = q
		}
		c := proofCursor{view: k, sc: v.scan(0), remap: remap}
		more, bad := c.advance()
		ok[k] = !bad
		if more {
			h = append(h, c)
		}
	}
	heap.Init(&h)

	ss := s.scan(0)
	next := ss.next()
	var group []record // the records of s at one location
	for len(h) > 0 {
		c := &h[0]
		// Move the group up to c's location; s is in the same order.
		for next != nil && (len(group) == 0 || compareLocation(&group[0], &c.cur) < 0) {
			group = append(group[:0], decodeRecord(next))
			for next = ss.next(); next != nil; next = ss.next() {
				r := decodeRecord(next)
				if !sameLocation(&group[0], &r) {
					break
				}
				group = append(group, r)
			}
		}
		if !groupHolds(group, &c.cur) {
			ok[c.view] = false
			heap.Pop(&h)
			continue
		}
		switch more, bad := c.advance(); {
		case bad:
			ok[c.view] = false
			heap.Pop(&h)
		case more:
			heap.Fix(&h, 0)
		default:
			heap.Pop(&h)
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	for _, v := range vs {
		if err := v.Err(); err != nil {
			return nil, err
		}
	}
	return ok, nil
}

// groupHolds reports whether group, records of one location, has one equal
// to r in every field. A record that does not know its plaintext length is
// held by one that does (a merge keeps the known length), never the other
// way round, so a claim can add lengths but not change or drop one.
func groupHolds(group []record, r *record) bool {
	for i := range group {
		g := &group[i]
		if sameLocation(g, r) && g.length == r.length && g.typ == r.typ && (g.plain == r.plain || r.plain == 0) {
			return true
		}
	}
	return false
}

// compareLocation orders records by ID, pack position and offset only.
func compareLocation(a, b *record) int {
	if c := compareIDs(&a.id, &b.id); c != 0 {
		return c
	}
	switch {
	case a.pack != b.pack:
		if a.pack < b.pack {
			return -1
		}
		return 1
	case a.offset != b.offset:
		if a.offset < b.offset {
			return -1
		}
		return 1
	}
	return 0
}

// proofCursor walks one superseded view's records, with pack positions
// mapped into the superseding view's table.
type proofCursor struct {
	view  int
	sc    *scanner
	remap []uint32
	cur   record
}

// advance moves to the next record. more is false at the end; bad is true
// when the record's pack is outside its own table or absent from the
// superseding view's, so that it cannot be contained.
func (c *proofCursor) advance() (more, bad bool) {
	r := c.sc.next()
	if r == nil {
		return false, false
	}
	p := binary.LittleEndian.Uint32(r[offPack:])
	if uint64(p) >= uint64(len(c.remap)) || c.remap[p] == missingPack {
		return false, true
	}
	c.cur = decodeRecord(r)
	c.cur.pack = c.remap[p]
	return true, false
}

// proofCursors is a min-heap by current record.
type proofCursors []proofCursor

func (h proofCursors) Len() int           { return len(h) }
func (h proofCursors) Less(i, j int) bool { return compareRecords(&h[i].cur, &h[j].cur) < 0 }
func (h proofCursors) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *proofCursors) Push(x any)        { *h = append(*h, x.(proofCursor)) }
func (h *proofCursors) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
