package index

import (
	"bytes"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// pendingRun is how many added entries are kept in the small sorted buffer
// before it becomes an immutable run.
const pendingRun = 64

// added holds the entries one process stores during a run, as sorted runs of
// 48-byte records (a log-structured merge, like a binary counter): new
// entries go into a small sorted buffer; a full buffer becomes a run, and a
// run is merged with the one before it while that one is not larger. So
// there are at most log2(n/64)+1 runs to search, each record is copied
// O(log n) times in total, and each run is allocated at its exact size:
// 48 bytes per entry plus the pack table (one ID and map slot per pack,
// about 6 bytes per entry with 16 blobs to a pack). A merge briefly holds
// the two inputs and the output.
//
// Runs are never modified after they are made, so a snapshot of the run
// list stays valid after the lock is released. added is not safe for
// concurrent use on its own; Set guards it.
type added struct {
	packs   *packTable // positions in insertion order, never re-sorted
	pending []record   // sorted
	runs    [][]record // each sorted; sizes decrease from first to last
	n       int
}

func newAdded() *added {
	return &added{packs: newPackTable()}
}

// add inserts one entry.
func (a *added) add(e *Entry) {
	r := record{id: e.ID, pack: a.packs.add(e.Pack), offset: e.Offset, length: e.Length, typ: e.Type, plain: recordedPlain(e.PlainLen)}
	if a.pending == nil {
		a.pending = make([]record, 0, pendingRun)
	}
	i, _ := slices.BinarySearchFunc(a.pending, r, func(x, y record) int { return compareRecords(&x, &y) })
	a.pending = slices.Insert(a.pending, i, r)
	a.n++
	if len(a.pending) < pendingRun {
		return
	}
	a.runs = append(a.runs, a.pending)
	a.pending = nil
	for k := len(a.runs); k >= 2 && len(a.runs[k-2]) <= len(a.runs[k-1]); k = len(a.runs) {
		merged := mergeRecords(a.runs[k-2], a.runs[k-1])
		a.runs[k-1] = nil
		a.runs = append(a.runs[:k-2], merged)
	}
}

// mergeRecords merges two sorted runs into a new one of exactly their size.
func mergeRecords(x, y []record) []record {
	out := make([]record, 0, len(x)+len(y))
	for len(x) > 0 && len(y) > 0 {
		if compareRecords(&y[0], &x[0]) < 0 {
			out = append(out, y[0])
			y = y[1:]
		} else {
			out = append(out, x[0])
			x = x[1:]
		}
	}
	out = append(out, x...)
	return append(out, y...)
}

// snapshot returns the current runs, including a copy of the pending buffer,
// and the pack table, for reading without the lock.
func (a *added) snapshot() addedSnapshot {
	runs := slices.Clone(a.runs)
	if len(a.pending) > 0 {
		runs = append(runs, slices.Clone(a.pending))
	}
	// The pack table is append-only, so its current prefix never changes.
	ids := a.packs.ids
	return addedSnapshot{runs: runs, packs: ids[:len(ids):len(ids)]}
}

// each calls fn for every record with ID id, run by run.
func (a *added) each(id *crypto.ID, fn func(r *record) bool) {
	for _, run := range a.runs {
		if !eachInRun(run, id, fn) {
			return
		}
	}
	eachInRun(a.pending, id, fn)
}

// eachInRun calls fn for the records of one sorted run with ID id until fn
// returns false; it reports whether fn never did.
func eachInRun(run []record, id *crypto.ID, fn func(r *record) bool) bool {
	t := prefix(id[:])
	lo, hi := 0, len(run)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		p := prefix(run[m].id[:])
		if p < t || (p == t && bytes.Compare(run[m].id[:], id[:]) < 0) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo; i < len(run) && run[i].id == *id; i++ {
		if !fn(&run[i]) {
			return false
		}
	}
	return true
}

// addedSnapshot is an immutable copy of the run list.
type addedSnapshot struct {
	runs  [][]record
	packs []crypto.ID
}

// entry converts a record of this snapshot to an Entry.
func (s *addedSnapshot) entry(r *record) Entry {
	return Entry{ID: r.id, Type: r.typ, Pack: s.packs[r.pack], Offset: r.offset, Length: r.length, PlainLen: r.plain}
}
