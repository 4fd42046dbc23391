package index

import (
	"math/rand/v2"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// FuzzNewView checks that no input makes NewView, Validate, the accessors,
// Search, a Set or Merge panic, that Search agrees with bisection on valid
// bodies, and that Merge always writes a valid body. The seeds run under
// plain go test.
func FuzzNewView(f *testing.F) {
	rng := rand.New(rand.NewPCG(11, 11))
	ids := randomIDs(rng, 20, uniformIDs)
	packs := randomIDs(rng, 3, uniformIDs)
	small := Encode(randomEntries(rng, 30, ids, packs), ids[:2])
	f.Add([]byte{})
	f.Add([]byte(magic))
	f.Add(Encode(nil, nil))
	f.Add(small)
	f.Add(small[:len(small)-1])
	f.Add(append([]byte("CAIRNIX2"), small[8:]...))
	f.Add(Encode([]Entry{{ID: crypto.ID{1}, Type: pack.DataBlob, Pack: crypto.ID{2}}}, nil))
	shared := randomIDs(rng, 10, sharedPrefix)
	f.Add(Encode(randomEntries(rng, 40, shared, packs), nil))
	bad := Encode(randomEntries(rng, 5, ids, packs), nil)
	bad[len(bad)-recordSize+offType] = 9
	f.Add(bad)

	// One cache for all inputs: a directory per input would make each
	// execution slow enough to stall minimization.
	cache, err := OpenCache(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer cache.Close()

	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := NewView(data)
		if err != nil {
			return
		}
		valid := v.Validate() == nil
		var queries []crypto.ID
		for i := range v.Len() {
			e := v.Entry(i)
			if i < 8 {
				queries = append(queries, e.ID)
			}
		}
		_, _ = v.Packs(), v.Supersedes()
		queries = append(queries, crypto.ID{}, maxID())
		set := NewSet()
		set.AddView(crypto.ID{1}, v)
		set.Condemn(v.Packs()[:min(1, len(v.Packs()))])
		for _, q := range queries {
			i := v.Search(q)
			if i < 0 || i > v.Len() {
				t.Fatalf("Search = %d outside [0, %d]", i, v.Len())
			}
			if valid && i != v.binarySearch(q) {
				t.Fatalf("Search = %d, bisection = %d", i, v.binarySearch(q))
			}
			set.Has(q)
			set.Lookup(q)
			set.LookupAll(q)
		}
		if valid {
			// A valid body read back from a cache file answers the same.
			name := crypto.Hash(data)
			if err := cache.Store(name, data); err != nil {
				t.Fatal(err)
			}
			fv, err := cache.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range queries {
				if fv.Search(q) != v.Search(q) || len(matches(fv, q)) != len(matches(v, q)) {
					t.Fatalf("file view disagrees on %s", q.Short())
				}
			}
			if err := cache.Release(name); err != nil {
				t.Fatal(err)
			}
			if err := cache.Retain(nil); err != nil {
				t.Fatal(err)
			}
		}
		merged, err := NewView(Merge([]*View{v}, []crypto.ID{{1}}, nil))
		if err != nil {
			t.Fatalf("Merge output rejected by NewView: %v", err)
		}
		if err := merged.Validate(); err != nil {
			t.Fatalf("Merge output invalid: %v", err)
		}
	})
}
