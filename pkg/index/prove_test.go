package index

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// TestSetIgnoresFalseSupersedes plays the attacker who may create index
// objects: 33 empty ones each claim to supersede the real index. Every
// blob must stay findable, the real index stay in use, and the 33 claims
// be reported.
func TestSetIgnoresFalseSupersedes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	real := randomEntries(rng, 500, randomIDs(rng, 400, uniformIDs), randomIDs(rng, 8, uniformIDs))
	realName := crypto.ID{0xaa}
	set := NewSet()
	set.AddView(realName, fileView(t, Encode(real, nil)))
	var fakes []crypto.ID
	for i := range 33 {
		name := crypto.ID{byte(i), 1}
		fakes = append(fakes, name)
		set.AddView(name, mustView(t, nil, []crypto.ID{realName}))
	}
	for _, e := range real {
		if !slices.Contains(set.LookupAll(e.ID), e) {
			t.Fatalf("blob %s hidden by empty superseding indexes", e.ID.Short())
		}
	}
	if !slices.Contains(set.Names(), realName) || len(set.Superseded()) != 0 {
		t.Errorf("real index not in use: names %d, superseded %v", len(set.Names()), set.Superseded())
	}
	var claimants []crypto.ID
	for _, c := range set.Unproven() {
		if c.Of != realName {
			t.Errorf("unproven claim %v", c)
		}
		claimants = append(claimants, c.By)
	}
	sortIDs(fakes)
	if !slices.Equal(claimants, fakes) {
		t.Errorf("unproven claims by %d objects, want the 33 fakes", len(claimants))
	}
}

// TestSetHonoursMerge checks that a real merge supersedes its inputs, so
// that lookups see each entry once.
func TestSetHonoursMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ids, packs := randomIDs(rng, 300, uniformIDs), randomIDs(rng, 10, uniformIDs)
	a := mustView(t, randomEntries(rng, 400, ids, packs), nil)
	b := fileView(t, Encode(randomEntries(rng, 400, ids, packs), []crypto.ID{{9}}))
	names := []crypto.ID{{1}, {2}}
	merged := fileView(t, Merge([]*View{a, b}, names, nil))
	set := NewSet()
	set.AddView(crypto.ID{3}, merged)
	set.AddView(names[0], a)
	set.AddView(names[1], b)
	if got := set.Names(); !slices.Equal(got, []crypto.ID{{3}}) {
		t.Errorf("Names = %v, want only the merged index", got)
	}
	if got := set.Superseded(); !slices.Equal(got, names) {
		t.Errorf("Superseded = %v, want both inputs", got)
	}
	if set.Len() != merged.Len() || len(set.Unproven()) != 0 {
		t.Errorf("Len %d, want %d; unproven %v", set.Len(), merged.Len(), set.Unproven())
	}
	for _, id := range ids {
		all := set.LookupAll(id)
		if len(all) != len(locations(all)) {
			t.Fatalf("LookupAll(%s) repeats a location", id.Short())
		}
	}

	// The view a merge leaves out dropped packs of does not count as
	// contained; one that had no entry there does.
	dropped := packs[0]
	partial := Merge([]*View{a, b}, names, func(p crypto.ID) bool { return p == dropped })
	onlyOthers := mustView(t, slices.DeleteFunc(viewEntries(a), func(e Entry) bool { return e.Pack == dropped }), nil)
	ok, err := Contains(mustBody(t, partial), []*View{a, onlyOthers})
	if err != nil || ok[0] || !ok[1] {
		t.Errorf("Contains after dropping a pack = %v %v, want [false true]", ok, err)
	}

	// RemoveView brings nothing back and forgets the removed one.
	set.RemoveView(names[0])
	if got := set.Superseded(); !slices.Equal(got, names[1:]) {
		t.Errorf("after RemoveView, Superseded = %v", got)
	}
}

func mustBody(tb testing.TB, body []byte) *View {
	tb.Helper()
	v, err := NewView(body)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// TestContainsExact checks that only equal records count: a claim fails
// for a missing entry, a different length or type, another pack or
// offset, or a pack table out of order.
func TestContainsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	base := randomEntries(rng, 200, randomIDs(rng, 150, uniformIDs), randomIDs(rng, 6, uniformIDs))
	s := fileView(t, Encode(base, nil))
	change := map[string]func(e *Entry){
		"length": func(e *Entry) { e.Length++ },
		"type":   func(e *Entry) { e.Type ^= 3 },
		"offset": func(e *Entry) { e.Offset++ },
		"pack":   func(e *Entry) { e.Pack[31] ^= 1 },
	}
	for what, f := range change {
		v := slices.Clone(base[:50])
		f(&v[17])
		ok, err := Contains(s, []*View{mustView(t, v, nil)})
		if err != nil || ok[0] {
			t.Errorf("changed %s: Contains = %v %v, want false", what, ok, err)
		}
	}
	extra := append(slices.Clone(base[:50]), location(crypto.ID{7}, base[0].Pack, 0))
	views := []*View{mustView(t, base[100:], nil), mustView(t, extra, nil), mustView(t, nil, nil), fileView(t, Encode(base[:10], nil))}
	ok, err := Contains(s, views)
	if err != nil || !slices.Equal(ok, []bool{true, false, true, true}) {
		t.Errorf("Contains = %v %v, want [true false true true]", ok, err)
	}

	// A superseding body whose pack table is out of order proves nothing.
	body := Encode(base, nil)
	p0, p1 := body[headerSize:headerSize+crypto.IDSize], body[headerSize+crypto.IDSize:headerSize+2*crypto.IDSize]
	tmp := slices.Clone(p0)
	copy(p0, p1)
	copy(p1, tmp)
	ok, err = Contains(mustBody(t, body), []*View{mustView(t, nil, nil)})
	if err != nil || ok[0] {
		t.Errorf("unsorted pack table: Contains = %v %v, want false", ok, err)
	}
}

// TestSetSupersedesCycle gives two views with the same entries that claim
// each other (possible only with made-up names): one stays in use.
func TestSetSupersedesCycle(t *testing.T) {
	e := []Entry{location(crypto.ID{1}, crypto.ID{2}, 0)}
	a, b := crypto.ID{0xa}, crypto.ID{0xb}
	set := NewSet()
	set.AddView(a, mustView(t, e, []crypto.ID{b}))
	set.AddView(b, mustView(t, e, []crypto.ID{a}))
	if got := set.Names(); !slices.Equal(got, []crypto.ID{a}) || !set.Has(e[0].ID) {
		t.Errorf("Names = %v, want the first of the cycle", got)
	}
}
