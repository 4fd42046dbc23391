package index

import (
	"math/rand/v2"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// benchEntries is the size of the repository in the product requirement.
const benchEntries = 1_500_000

// BenchmarkLookup measures lookups in a 1.5M-entry set loaded from a cache
// file (the way backups use it), half of them for IDs that are present.
// The memory sub-benchmarks search an in-memory body instead, with
// interpolation and with plain bisection, for comparison.
func BenchmarkLookup(b *testing.B) {
	body, sample := syntheticBody(benchEntries, 42)
	set := NewSet()
	set.AddView(crypto.ID{1}, fileView(b, body))
	rng := rand.New(rand.NewPCG(2, 2))
	// Many distinct queries, so that the CPU caches do not hold them all.
	const distinct = 1 << 16
	absent := randomIDs(rng, distinct, uniformIDs)
	queries := make([]crypto.ID, 0, 2*distinct)
	for i := range distinct {
		queries = append(queries, sample[i%len(sample)], absent[i])
	}
	b.Run("Has", func(b *testing.B) {
		i := 0
		for b.Loop() {
			set.Has(queries[i%len(queries)])
			i++
		}
	})
	b.Run("Lookup", func(b *testing.B) {
		i := 0
		for b.Loop() {
			set.Lookup(queries[i%len(queries)])
			i++
		}
	})
	b.Run("HasParallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				set.Has(queries[i%len(queries)])
				i++
			}
		})
	})
	mem, err := NewView(body)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("memory/interpolation", func(b *testing.B) {
		i := 0
		for b.Loop() {
			mem.Search(queries[i%len(queries)])
			i++
		}
	})
	b.Run("memory/bisection", func(b *testing.B) {
		i := 0
		for b.Loop() {
			mem.binarySearch(queries[i%len(queries)])
			i++
		}
	})
}

// BenchmarkEncode encodes 1.5M random entries (MB/s of body written).
func BenchmarkEncode(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	entries := randomEntries(rng, benchEntries, randomIDs(rng, benchEntries, uniformIDs), randomIDs(rng, benchEntries/16, uniformIDs))
	b.SetBytes(int64(bodySize(benchEntries/16, 0, benchEntries)))
	for b.Loop() {
		Encode(entries, nil)
	}
}

// BenchmarkLoad measures Cache.Load of a 1.5M-entry cache file: checksum
// and fence table, in MB/s of file read. This is the fixed cost an index of
// that size adds to every backup.
func BenchmarkLoad(b *testing.B) {
	body, _ := syntheticBody(benchEntries, 4)
	c, err := OpenCache(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	name := crypto.Hash(body)
	if err := c.Store(name, body); err != nil {
		b.Fatal(err)
	}
	c.Close()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		c, err := OpenCache(c.Dir())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Load(name); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkMerge merges four cached 375k-entry views into one (MB/s of
// body written).
func BenchmarkMerge(b *testing.B) {
	views := make([]*View, 4)
	total := 0
	for i := range views {
		body, _ := syntheticBody(benchEntries/4, uint64(10+i))
		views[i] = fileView(b, body)
		total += len(body)
	}
	b.SetBytes(int64(total))
	for b.Loop() {
		Merge(views, nil, nil)
	}
}

// BenchmarkLookupSevenViews measures lookups in a set of 7 cached views of
// 200k entries each, as a big backup leaves (an intermediate index every 32
// packs): hits (IDs present in one view) and misses (absent from all).
func BenchmarkLookupSevenViews(b *testing.B) {
	const views, perView, distinct = 7, 200_000, 1 << 14
	set := NewSet()
	var hits []crypto.ID
	for i := range views {
		body, sample := syntheticBody(perView, uint64(100+i))
		set.AddView(crypto.ID{byte(i + 1)}, fileView(b, body))
		hits = append(hits, sample...)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	rng.Shuffle(len(hits), func(i, j int) { hits[i], hits[j] = hits[j], hits[i] })
	misses := randomIDs(rng, distinct, uniformIDs)
	for _, q := range []struct {
		name string
		ids  []crypto.ID
	}{{"hit", hits}, {"miss", misses}} {
		b.Run("Has/"+q.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				set.Has(q.ids[i%len(q.ids)])
				i++
			}
		})
		b.Run("Lookup/"+q.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				set.Lookup(q.ids[i%len(q.ids)])
				i++
			}
		})
	}
}
