package index

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// idShape says how test IDs are distributed. Real IDs are uniform; the
// other shapes exercise Search's fallbacks.
type idShape int

const (
	uniformIDs   idShape = iota
	sharedPrefix         // first 12 bytes equal: interpolation has nothing to go on
	skewedIDs            // clustered near zero: interpolation guesses badly
)

func randomID(rng *rand.Rand, shape idShape) crypto.ID {
	var id crypto.ID
	for i := 0; i < crypto.IDSize; i += 8 {
		binary.LittleEndian.PutUint64(id[i:], rng.Uint64())
	}
	switch shape {
	case sharedPrefix:
		copy(id[:12], "cairn-prefix")
	case skewedIDs:
		// Squaring a uniform number piles values up near zero.
		u := rng.Uint64() >> 32
		binary.BigEndian.PutUint64(id[:8], u*u)
	}
	return id
}

func randomIDs(rng *rand.Rand, n int, shape idShape) []crypto.ID {
	ids := make([]crypto.ID, n)
	for i := range ids {
		ids[i] = randomID(rng, shape)
	}
	return ids
}

// location derives Type and Length from an entry's location, so that two
// entries at the same place are exact duplicates, as in a real repository.
func location(id, packID crypto.ID, offset uint32) Entry {
	h := crypto.Hash(append(append(id[:], packID[:]...), byte(offset), byte(offset>>8)))
	t := pack.DataBlob
	if h[0]&1 == 1 {
		t = pack.TreeBlob
	}
	return Entry{ID: id, Type: t, Pack: packID, Offset: offset, Length: binary.LittleEndian.Uint32(h[1:]) >> 8}
}

// randomEntries draws n entries from small pools of IDs, packs and offsets,
// so that repeated IDs and exact duplicates are common.
func randomEntries(rng *rand.Rand, n int, ids, packs []crypto.ID) []Entry {
	out := make([]Entry, n)
	for i := range out {
		out[i] = location(ids[rng.IntN(len(ids))], packs[rng.IntN(len(packs))], uint32(rng.IntN(4))*4096)
	}
	return out
}

// mustView encodes and opens a body, failing the test if it does not
// validate.
func mustView(tb testing.TB, entries []Entry, supersedes []crypto.ID) *View {
	tb.Helper()
	v, err := NewView(Encode(entries, supersedes))
	if err != nil {
		tb.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		tb.Fatal(err)
	}
	return v
}

// viewEntries decodes every entry of v.
func viewEntries(v *View) []Entry {
	out := make([]Entry, v.Len())
	for i := range out {
		out[i] = v.Entry(i)
	}
	return out
}

// locations returns es sorted by ID, pack and offset without exact
// duplicates: the set of places a set of entries describes.
func locations(es []Entry) []Entry {
	out := slices.Clone(es)
	slices.SortFunc(out, compareEntries)
	return slices.CompactFunc(out, Entry.sameLocation)
}

func compareEntries(a, b Entry) int {
	if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Pack[:], b.Pack[:]); c != 0 {
		return c
	}
	return int(int64(a.Offset) - int64(b.Offset))
}

// syntheticBody writes a valid body of n entries with uniform IDs, without
// sorting records or holding Entry values: the memory tests and
// benchmarks use it to make big indexes quickly. It returns the body and a
// few of its IDs.
func syntheticBody(n int, seed uint64) ([]byte, []crypto.ID) {
	rng := rand.New(rand.NewPCG(seed, 1))
	npacks := max(1, n/16)
	packs := randomIDs(rng, npacks, uniformIDs)
	sortIDs(packs)
	body := make([]byte, 0, bodySize(npacks, 0, n))
	body = appendHeader(body, npacks, 0, n)
	for i := range packs {
		body = append(body, packs[i][:]...)
	}
	// Independent random prefixes, sorted: positions scatter around their
	// expected value as real IDs do.
	prefixes := make([]uint64, n)
	for i := range prefixes {
		prefixes[i] = rng.Uint64()
	}
	slices.Sort(prefixes)
	var sample []crypto.ID
	for i := range n {
		r := record{id: randomID(rng, uniformIDs), pack: uint32(rng.IntN(npacks)), offset: uint32(i), length: 1 << 20, typ: pack.DataBlob}
		binary.BigEndian.PutUint64(r.id[:8], prefixes[i])
		body = appendRecord(body, &r)
		if i%(n>>16+1) == 0 {
			sample = append(sample, r.id)
		}
	}
	return body, sample
}

// fileView stores a valid body in a fresh cache and loads it back: the
// view then reads a file with pread, as a repository's views do.
func fileView(tb testing.TB, body []byte) *View {
	tb.Helper()
	c, err := OpenCache(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	name := crypto.Hash(body)
	if err := c.Store(name, body); err != nil {
		tb.Fatal(err)
	}
	v, err := c.Load(name)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// matches returns the records eachMatch reports for id.
func matches(v *View, id crypto.ID) []record {
	var out []record
	v.eachMatch(&id, func(r record) bool {
		out = append(out, r)
		return true
	})
	return out
}
