package index

import (
	"bytes"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// Set is a repository's loaded index: one View per index object plus the
// entries this process added during a run. Lookups search every view that
// no other loaded view provably supersedes (merging keeps that number
// small) and the added entries. Set is safe for concurrent use.
type Set struct {
	mu        sync.RWMutex
	views     []namedView // every loaded view, in load order
	active    []*View     // views no other loaded view supersedes, by name
	names     []crypto.ID // names of active, sorted; names[i] is active[i]
	dropped   []crypto.ID // names of loaded views that are superseded, sorted
	unproven  []Claim     // claims between loaded views that failed their proof
	proofs    map[Claim]bool
	condemned map[crypto.ID]struct{}
	added     *added
}

// Claim is one index object's claim, in its supersedes list, to contain
// another.
type Claim struct {
	By, Of crypto.ID
}

type namedView struct {
	name       crypto.ID
	view       *View
	supersedes []crypto.ID
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{condemned: make(map[crypto.ID]struct{}), proofs: make(map[Claim]bool), added: newAdded()}
}

// AddView adds the index object called name (its object ID). Loading a name
// twice replaces the earlier view. A view named in another loaded view's
// supersedes list is ignored by lookups, Each and Len only once Contains
// has proved that the other holds every one of its entries; a claim that
// fails stays visible in Unproven, and both views stay in use. A claim
// about an object that is not loaded needs no proof: nothing of it is in
// the set anyway.
//
// Proofs run outside the lock (they read both views once) and their
// results are kept, since a name always denotes the same content.
func (s *Set) AddView(name crypto.ID, v *View) {
	s.AddViews([]crypto.ID{name}, []*View{v})
}

// AddViews is AddView for several views at once: each superseding view is
// then read once for all the claims it makes, however many there are.
func (s *Set) AddViews(names []crypto.ID, views []*View) {
	s.mu.Lock()
	for i, name := range names {
		nv := namedView{name: name, view: views[i], supersedes: views[i].Supersedes()}
		replaced := false
		for j := range s.views {
			if s.views[j].name == name {
				s.views[j], replaced = nv, true
			}
		}
		if !replaced {
			s.views = append(s.views, nv)
		}
	}
	pending := s.pendingProofs()
	s.mu.Unlock()

	results := prove(pending)

	s.mu.Lock()
	defer s.mu.Unlock()
	for c, ok := range results {
		s.proofs[c] = ok
	}
	s.resolve()
}

// RemoveView forgets the index object called name, for a caller that has
// deleted it. Removing a name that is not loaded does nothing.
func (s *Set) RemoveView(name crypto.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.views = slices.DeleteFunc(s.views, func(nv namedView) bool { return nv.name == name })
	s.resolve()
}

// claims returns the supersedes claims whose both ends are loaded. The
// caller holds the lock.
func (s *Set) claims() []Claim {
	loaded := make(map[crypto.ID]bool, len(s.views))
	for _, nv := range s.views {
		loaded[nv.name] = true
	}
	var out []Claim
	for _, nv := range s.views {
		for _, id := range nv.supersedes {
			if id != nv.name && loaded[id] {
				out = append(out, Claim{By: nv.name, Of: id})
			}
		}
	}
	return out
}

// proofJob is the claims of one superseding view still to prove.
type proofJob struct {
	by     *View
	claims []Claim
	of     []*View
}

// pendingProofs returns the claims between loaded views not proved or
// disproved yet. The caller holds the lock.
func (s *Set) pendingProofs() []proofJob {
	byName := make(map[crypto.ID]*View, len(s.views))
	for _, nv := range s.views {
		byName[nv.name] = nv.view
	}
	jobs := make(map[crypto.ID]*proofJob)
	var order []crypto.ID
	for _, c := range s.claims() {
		if _, done := s.proofs[c]; done {
			continue
		}
		j := jobs[c.By]
		if j == nil {
			j = &proofJob{by: byName[c.By]}
			jobs[c.By] = j
			order = append(order, c.By)
		}
		j.claims = append(j.claims, c)
		j.of = append(j.of, byName[c.Of])
	}
	out := make([]proofJob, 0, len(order))
	for _, name := range order {
		out = append(out, *jobs[name])
	}
	return out
}

// prove runs the proofs of jobs. A proof that cannot be completed (a read
// error of a cached view) has no result, so it counts as failed and is
// tried again when the next view is added.
func prove(jobs []proofJob) map[Claim]bool {
	out := make(map[Claim]bool)
	for _, j := range jobs {
		ok, err := Contains(j.by, j.of)
		if err != nil {
			continue
		}
		for i, c := range j.claims {
			out[c] = ok[i]
		}
	}
	return out
}

// resolve recomputes which views are active. A view is superseded when a
// proven claim names it and its claimant is itself settled (in use, or
// superseded by a view in use): containment is transitive, so every
// superseded view's entries are in some view in use. Views that only claim
// each other in a cycle (impossible with names that are hashes of the
// content, but Set does not rely on it) keep the first by name in use. A
// view's own name in its supersedes list does not count. The caller holds
// the write lock.
func (s *Set) resolve() {
	claimants := make(map[crypto.ID][]crypto.ID)
	s.unproven = nil
	for _, c := range s.claims() {
		if s.proofs[c] {
			claimants[c.Of] = append(claimants[c.Of], c.By)
		} else {
			s.unproven = append(s.unproven, c)
		}
	}
	slices.SortFunc(s.unproven, func(a, b Claim) int {
		if c := bytes.Compare(a.By[:], b.By[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.Of[:], b.Of[:])
	})
	views := slices.Clone(s.views)
	slices.SortFunc(views, func(a, b namedView) int { return bytes.Compare(a.name[:], b.name[:]) })

	const (
		undecided = iota
		inUse
		superseded
	)
	state := make(map[crypto.ID]int, len(views))
	for _, nv := range views {
		if len(claimants[nv.name]) == 0 {
			state[nv.name] = inUse
		}
	}
	for {
		changed := false
		for _, nv := range views {
			if state[nv.name] != undecided {
				continue
			}
			if slices.ContainsFunc(claimants[nv.name], func(by crypto.ID) bool { return state[by] != undecided }) {
				state[nv.name] = superseded
				changed = true
			}
		}
		if changed {
			continue
		}
		i := slices.IndexFunc(views, func(nv namedView) bool { return state[nv.name] == undecided })
		if i < 0 {
			break
		}
		state[views[i].name] = inUse
	}

	s.active, s.names, s.dropped = nil, nil, nil
	for _, nv := range views {
		if state[nv.name] == superseded {
			s.dropped = append(s.dropped, nv.name)
			continue
		}
		s.active = append(s.active, nv.view)
		s.names = append(s.names, nv.name)
	}
}

// Add records a blob this process stored.
func (s *Set) Add(e Entry) {
	s.mu.Lock()
	s.added.add(&e)
	s.mu.Unlock()
}

// Condemn marks packs named by deletion markers: Has ignores entries in
// them, Lookup uses them only when no other copy exists.
func (s *Set) Condemn(packs []crypto.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range packs {
		s.condemned[p] = struct{}{}
	}
}

// IsCondemned reports whether a deletion marker condemns pack.
func (s *Set) IsCondemned(pack crypto.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.condemned[pack]
	return ok
}

// Lookup returns a location of blob id, preferring packs that are not
// condemned; a condemned copy is returned only if it is the only one (it is
// still readable until prune deletes the pack).
func (s *Set) Lookup(id crypto.ID) (Entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found Entry
	ok, good := false, false
	s.each(&id, func(e Entry, condemned bool) bool {
		// Prefer a copy that is not condemned, then one that records its
		// plaintext length.
		if !ok || (!condemned && (!good || (found.PlainLen == 0 && e.PlainLen != 0))) {
			found, ok, good = e, true, !condemned
		}
		return !good || found.PlainLen == 0
	})
	return found, ok
}

// Has reports whether blob id is stored in a pack that is not condemned,
// which is what deduplication needs.
func (s *Set) Has(id crypto.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	has := false
	s.eachLocation(&id, func(condemned bool) bool {
		if !condemned {
			has = true
			return false
		}
		return true
	})
	return has
}

// LookupAll returns every known location of blob id, without exact
// duplicates (same pack and offset), those in packs that are not condemned
// first.
func (s *Set) LookupAll(id crypto.ID) []Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var good, bad []Entry
	s.each(&id, func(e Entry, condemned bool) bool {
		if i := slices.IndexFunc(good, e.sameLocation); i >= 0 {
			good[i] = preferPlain(good[i], e)
			return true
		}
		if i := slices.IndexFunc(bad, e.sameLocation); i >= 0 {
			bad[i] = preferPlain(bad[i], e)
			return true
		}
		if condemned {
			bad = append(bad, e)
		} else {
			good = append(good, e)
		}
		return true
	})
	return append(good, bad...)
}

// preferPlain picks, of two entries for one location, the one that
// records a plaintext length.
func preferPlain(a, b Entry) Entry {
	if a.PlainLen == 0 && b.PlainLen != 0 {
		return b
	}
	return a
}

func (e Entry) sameLocation(o Entry) bool {
	return e.ID == o.ID && e.Pack == o.Pack && e.Offset == o.Offset
}

// each decodes every entry with ID id until fn returns false. condemned
// is also true for an entry whose pack position is outside its table. The
// caller holds the read lock.
func (s *Set) each(id *crypto.ID, fn func(e Entry, condemned bool) bool) {
	for _, v := range s.active {
		stopped := false
		v.eachMatch(id, func(r record) bool {
			e := Entry{ID: r.id, Type: r.typ, Offset: r.offset, Length: r.length, PlainLen: r.plain}
			var ok bool
			e.Pack, ok = v.packID(r.pack)
			stopped = !fn(e, !ok || s.isCondemned(&e.Pack))
			return !stopped
		})
		if stopped {
			return
		}
	}
	s.added.each(id, func(r *record) bool {
		p := s.added.packs.ids[r.pack]
		e := Entry{ID: r.id, Type: r.typ, Pack: p, Offset: r.offset, Length: r.length, PlainLen: r.plain}
		return fn(e, s.isCondemned(&p))
	})
}

// eachLocation is each for Has: fn learns only whether the pack is
// condemned, and pack IDs are read only when some pack is.
func (s *Set) eachLocation(id *crypto.ID, fn func(condemned bool) bool) {
	for _, v := range s.active {
		stopped := false
		v.eachMatch(id, func(r record) bool {
			condemned := uint64(r.pack) >= uint64(v.npacks)
			if !condemned && len(s.condemned) > 0 {
				packID, ok := v.packID(r.pack)
				condemned = !ok || s.isCondemned(&packID)
			}
			stopped = !fn(condemned)
			return !stopped
		})
		if stopped {
			return
		}
	}
	s.added.each(id, func(r *record) bool {
		return fn(s.isCondemned(&s.added.packs.ids[r.pack]))
	})
}

// isCondemned reports whether a deletion marker condemns pack. The caller
// holds the lock.
func (s *Set) isCondemned(pack *crypto.ID) bool {
	if len(s.condemned) == 0 {
		return false
	}
	_, ok := s.condemned[*pack]
	return ok
}

// Each calls fn for every entry of every active view and every added entry,
// stopping at the first error, which it returns. An ID may be reported more
// than once. It works on a snapshot: fn may call other Set methods, and
// entries added meanwhile may or may not be reported.
func (s *Set) Each(fn func(Entry) error) error {
	s.mu.RLock()
	views := slices.Clone(s.active)
	snap := s.added.snapshot()
	s.mu.RUnlock()
	for _, v := range views {
		sc := v.scan(0)
		for r := sc.next(); r != nil; r = sc.next() {
			if err := fn(v.entry(r)); err != nil {
				return err
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
	}
	for _, run := range snap.runs {
		for i := range run {
			if err := fn(snap.entry(&run[i])); err != nil {
				return err
			}
		}
	}
	return nil
}

// Added returns the entries added with Add, sorted by ID, for writing this
// run's index.
func (s *Set) Added() []Entry {
	s.mu.RLock()
	snap := s.added.snapshot()
	n := s.added.n
	s.mu.RUnlock()
	out := make([]Entry, 0, n)
	for _, run := range snap.runs {
		for i := range run {
			out = append(out, snap.entry(&run[i]))
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// Names returns the names of the loaded index objects in use (not
// superseded), sorted.
func (s *Set) Names() []crypto.ID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.names)
}

// Superseded returns the names of loaded index objects that another loaded
// one provably supersedes, sorted: prune and index upkeep may delete them.
func (s *Set) Superseded() []crypto.ID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.dropped)
}

// Unproven returns the supersedes claims between loaded views that failed
// their proof, sorted: both views stay in use. A claim that fails is either
// an attack (an object planted to hide the real index) or the leftover of
// an interrupted prune, whose merged index leaves out the packs it deleted.
func (s *Set) Unproven() []Claim {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.unproven)
}

// InUse returns the names of the index objects in use and their views, in
// the same order, taken together so that a view added meanwhile cannot
// pair a name with another's view.
func (s *Set) InUse() ([]crypto.ID, []*View) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.names), slices.Clone(s.active)
}

// Views returns the views in use (not superseded) in the order of Names,
// for merging.
func (s *Set) Views() []*View {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.active)
}

// Err returns the first read error of any view in use (see View.Err):
// after a failed Lookup, it tells a missing blob from an unreadable cache.
func (s *Set) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.active {
		if err := v.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Len is the number of entries in active views plus added entries,
// counting duplicates.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := s.added.n
	for _, v := range s.active {
		n += v.nentries
	}
	return n
}
