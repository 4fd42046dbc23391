package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// model is the plain-map reference a Set must agree with.
type model struct {
	byID       map[crypto.ID][]Entry // distinct locations of each blob
	condemned  map[crypto.ID]bool
	names      []crypto.ID
	superseded []crypto.ID
	length     int
}

func (m *model) add(e Entry) {
	if !slices.ContainsFunc(m.byID[e.ID], e.sameLocation) {
		m.byID[e.ID] = append(m.byID[e.ID], e)
	}
	m.length++
}

// TestSetAgreesWithMap builds random sets of views (some superseding
// others), added entries and condemned packs, and checks every query
// against a map built from the same data.
func TestSetAgreesWithMap(t *testing.T) {
	for seed := range uint64(40) {
		shape := idShape(seed % 3)
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			checkSetAgainstModel(t, rand.New(rand.NewPCG(seed, 99)), shape)
		})
	}
}

func checkSetAgainstModel(t *testing.T, rng *rand.Rand, shape idShape) {
	ids := randomIDs(rng, 1+rng.IntN(400), shape)
	packs := randomIDs(rng, 1+rng.IntN(30), uniformIDs)
	set := NewSet()
	m := &model{byID: make(map[crypto.ID][]Entry), condemned: make(map[crypto.ID]bool)}

	// Views: each may claim to supersede some earlier ones (and names that
	// are not loaded at all, which must not matter). Half the claims are
	// true (the view holds the other's entries too), the rest are believed
	// only if they happen to hold.
	nviews := rng.IntN(7)
	viewNames := randomIDs(rng, nviews, uniformIDs)
	views := make([]*View, nviews)
	viewEnts := make([][]Entry, nviews)
	isSuperseded := make(map[crypto.ID]bool)
	var wantUnproven []Claim
	for k := range nviews {
		var sup []crypto.ID
		entries := randomEntries(rng, rng.IntN(600), ids, packs)
		var claimed []int
		for j := range k {
			if rng.IntN(3) == 0 {
				sup = append(sup, viewNames[j])
				claimed = append(claimed, j)
				if rng.IntN(2) == 0 {
					entries = append(entries, viewEnts[j]...)
				}
			}
		}
		for _, j := range claimed {
			if containsAll(entries, viewEnts[j]) {
				isSuperseded[viewNames[j]] = true
			} else {
				wantUnproven = append(wantUnproven, Claim{By: viewNames[k], Of: viewNames[j]})
			}
		}
		sup = append(sup, randomID(rng, uniformIDs))
		viewEnts[k] = entries
		views[k] = mustView(t, entries, sup)
		if rng.IntN(2) == 0 {
			views[k] = fileView(t, views[k].body)
		}
	}
	// Load in random order: supersession must not depend on it.
	for _, k := range rng.Perm(nviews) {
		set.AddView(viewNames[k], views[k])
	}
	for k, name := range viewNames {
		if isSuperseded[name] {
			m.superseded = append(m.superseded, name)
			continue
		}
		m.names = append(m.names, name)
		for _, e := range viewEntries(views[k]) {
			m.add(e)
		}
	}
	slices.SortFunc(wantUnproven, func(a, b Claim) int {
		if c := slices.Compare(a.By[:], b.By[:]); c != 0 {
			return c
		}
		return slices.Compare(a.Of[:], b.Of[:])
	})
	if got := set.Unproven(); !slices.Equal(got, wantUnproven) {
		t.Errorf("Unproven = %v, want %v", got, wantUnproven)
	}
	sortIDs(m.names)
	sortIDs(m.superseded)

	for _, e := range randomEntries(rng, rng.IntN(500), ids, packs) {
		set.Add(e)
		m.add(e)
	}
	var condemned []crypto.ID
	for _, p := range packs {
		if rng.IntN(3) == 0 {
			condemned = append(condemned, p)
			m.condemned[p] = true
		}
	}
	set.Condemn(condemned)

	queries := append(slices.Clone(ids), randomIDs(rng, 50, shape)...)
	for _, id := range queries {
		want := m.byID[id]
		all := set.LookupAll(id)
		if !slices.Equal(locations(all), locations(want)) {
			t.Fatalf("LookupAll(%s) = %v, want %v", id.Short(), all, want)
		}
		goodFirst := true
		for i, e := range all {
			if i > 0 && !m.condemned[e.Pack] && m.condemned[all[i-1].Pack] {
				goodFirst = false
			}
		}
		if !goodFirst {
			t.Errorf("LookupAll(%s) lists a condemned location before a good one", id.Short())
		}
		hasGood := slices.ContainsFunc(want, func(e Entry) bool { return !m.condemned[e.Pack] })
		if got := set.Has(id); got != hasGood {
			t.Errorf("Has(%s) = %v, want %v", id.Short(), got, hasGood)
		}
		e, ok := set.Lookup(id)
		switch {
		case ok != (len(want) > 0):
			t.Errorf("Lookup(%s) found = %v, want %v", id.Short(), ok, len(want) > 0)
		case ok && !slices.Contains(want, e):
			t.Errorf("Lookup(%s) = %v, not a known location", id.Short(), e)
		case ok && hasGood && m.condemned[e.Pack]:
			t.Errorf("Lookup(%s) returned a condemned pack although a good copy exists", id.Short())
		}
	}

	if got := set.Len(); got != m.length {
		t.Errorf("Len = %d, want %d", got, m.length)
	}
	var each []Entry
	if err := set.Each(func(e Entry) error { each = append(each, e); return nil }); err != nil {
		t.Fatal(err)
	}
	var want []Entry
	for _, es := range m.byID {
		want = append(want, es...)
	}
	if len(each) != m.length || !slices.Equal(locations(each), locations(want)) {
		t.Errorf("Each gave %d entries (%d locations), want %d (%d)", len(each), len(locations(each)), m.length, len(locations(want)))
	}
	if got := set.Names(); !slices.Equal(got, m.names) {
		t.Errorf("Names = %v, want %v", got, m.names)
	}
	if got := set.Superseded(); !slices.Equal(got, m.superseded) {
		t.Errorf("Superseded = %v, want %v", got, m.superseded)
	}
	if got := len(set.Views()); got != len(m.names) {
		t.Errorf("Views has %d views, want %d", got, len(m.names))
	}
}

func TestSetAdded(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	set := NewSet()
	ids := randomIDs(rng, 5000, uniformIDs)
	packs := randomIDs(rng, 100, uniformIDs)
	entries := randomEntries(rng, 10000, ids, packs)
	for _, e := range entries {
		set.Add(e)
	}
	got := set.Added()
	if len(got) != len(entries) || !slices.Equal(locations(got), locations(entries)) {
		t.Fatalf("Added returned %d entries, want %d", len(got), len(entries))
	}
	if n := len(set.added.runs); n > 10 {
		t.Errorf("%d runs for %d entries, want at most log2(n/64)+1", n, len(entries))
	}
	for _, e := range entries[:200] {
		if !slices.Contains(set.LookupAll(e.ID), e) {
			t.Fatalf("LookupAll(%s) misses an added entry", e.ID.Short())
		}
	}
}

func TestSetReplaceView(t *testing.T) {
	name := crypto.ID{1}
	a, b := location(crypto.ID{2}, crypto.ID{3}, 0), location(crypto.ID{4}, crypto.ID{3}, 0)
	set := NewSet()
	set.AddView(name, mustView(t, []Entry{a}, nil))
	set.AddView(name, mustView(t, []Entry{b}, nil))
	if set.Has(a.ID) || !set.Has(b.ID) || set.Len() != 1 {
		t.Error("loading a name twice did not replace the view")
	}
}

// TestSetConcurrent runs lookups while other goroutines add entries; run
// with -race.
func TestSetConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	set := NewSet()
	base := randomEntries(rng, 2000, randomIDs(rng, 2000, uniformIDs), randomIDs(rng, 10, uniformIDs))
	baseView := mustView(t, base, nil)
	set.AddView(crypto.ID{1}, baseView)
	const writers, perWriter = 4, 2000
	added := make([][]Entry, writers)
	for w := range added {
		added[w] = randomEntries(rng, perWriter, randomIDs(rng, perWriter, uniformIDs), randomIDs(rng, 10, uniformIDs))
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for _, e := range added[w] {
				set.Add(e)
				if !set.Has(e.ID) {
					t.Errorf("Has(%s) false right after Add", e.ID.Short())
					return
				}
			}
		})
		wg.Go(func() {
			for i, e := range base {
				if _, ok := set.Lookup(e.ID); !ok {
					t.Errorf("Lookup(%s) failed", e.ID.Short())
					return
				}
				if i%500 == 0 {
					_ = set.Each(func(Entry) error { return nil })
				}
			}
		})
	}
	wg.Wait()
	if got, want := set.Len(), baseView.Len()+writers*perWriter; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
}

// containsAll reports whether every location of sub is among those of all.
func containsAll(all, sub []Entry) bool {
	for _, e := range sub {
		if !slices.ContainsFunc(all, e.sameLocation) {
			return false
		}
	}
	return true
}
