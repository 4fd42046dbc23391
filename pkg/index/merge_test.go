package index

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// TestMergeIsUnionMinusDropped merges random overlapping views and checks
// the result against the union of their entries without dropped packs.
func TestMergeIsUnionMinusDropped(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 5))
		shape := idShape(seed % 3)
		ids := randomIDs(rng, 1+rng.IntN(500), shape)
		packs := randomIDs(rng, 1+rng.IntN(20), uniformIDs)
		k := rng.IntN(6)
		views := make([]*View, k)
		names := randomIDs(rng, k, uniformIDs)
		var all []Entry
		wantSup := slices.Clone(names)
		for i := range views {
			inner := randomIDs(rng, rng.IntN(3), uniformIDs)
			wantSup = append(wantSup, inner...)
			entries := randomEntries(rng, rng.IntN(800), ids, packs)
			views[i] = mustView(t, entries, inner)
			all = append(all, entries...)
		}
		dropped := make(map[crypto.ID]bool)
		for _, p := range packs {
			if rng.IntN(4) == 0 {
				dropped[p] = true
			}
		}
		drop := func(p crypto.ID) bool { return dropped[p] }
		if seed == 0 {
			drop = nil
		}

		v, err := NewView(Merge(views, names, drop))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("seed %d: merged body invalid: %v", seed, err)
		}
		want := slices.DeleteFunc(locations(all), func(e Entry) bool { return drop != nil && dropped[e.Pack] })
		if got := viewEntries(v); !slices.Equal(got, want) {
			t.Fatalf("seed %d: merged %d entries, want %d", seed, len(got), len(want))
		}
		sortIDs(wantSup)
		if got := v.Supersedes(); !slices.Equal(got, slices.Compact(wantSup)) {
			t.Errorf("seed %d: supersedes %d names, want %d", seed, len(got), len(slices.Compact(wantSup)))
		}
		for _, p := range v.Packs() {
			if drop != nil && dropped[p] {
				t.Errorf("seed %d: dropped pack %s still in the pack table", seed, p.Short())
			}
		}
		// Merging one view is Encode of its entries.
		if k > 0 && drop == nil {
			one := Merge(views[:1], nil, nil)
			if again := Encode(viewEntries(views[0]), views[0].Supersedes()); !bytes.Equal(one, again) {
				t.Errorf("seed %d: Merge of one view differs from Encode", seed)
			}
		}
	}
}

// TestMergeInvalidInput feeds Merge views that NewView accepts but Validate
// rejects; the output must still be valid.
func TestMergeInvalidInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	ids := randomIDs(rng, 100, uniformIDs)
	packs := randomIDs(rng, 4, uniformIDs)
	body := Encode(randomEntries(rng, 50, ids, packs), nil)
	entOff := headerSize + crypto.IDSize*len(packs)
	// Reverse the records, and point one of them outside the pack table.
	recs := body[entOff:]
	n := len(recs) / recordSize
	for i := range n / 2 {
		a, b := recs[i*recordSize:(i+1)*recordSize], recs[(n-1-i)*recordSize:(n-i)*recordSize]
		tmp := slices.Clone(a)
		copy(a, b)
		copy(b, tmp)
	}
	binary.LittleEndian.PutUint32(recs[offPack:], 1000)
	recs[recordSize+offType] = 77
	bad, err := NewView(body)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Validate() == nil {
		t.Fatal("test body should be invalid")
	}
	good := mustView(t, randomEntries(rng, 50, ids, packs), nil)
	v, err := NewView(Merge([]*View{bad, good}, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		t.Fatalf("Merge of invalid input gave an invalid body: %v", err)
	}
	if got, want := v.Len(), len(locations(append(viewEntries(bad)[2:], viewEntries(good)...))); got != want {
		t.Errorf("merged %d entries, want %d", got, want)
	}
}
