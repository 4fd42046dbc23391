package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

func TestEncodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := randomIDs(rng, 300, uniformIDs)
	packs := randomIDs(rng, 12, uniformIDs)
	entries := randomEntries(rng, 1000, ids, packs)
	sup := randomIDs(rng, 3, uniformIDs)
	body := Encode(entries, append(sup, sup[0]))
	v := mustView(t, entries, sup)
	if !bytes.Equal(body, Encode(slices.Clone(entries), sup)) {
		t.Error("Encode is not deterministic")
	}
	if got := Encode(entries, sup); !bytes.Equal(got, body) {
		t.Error("Encode depends on the order of supersedes")
	}

	want := locations(entries)
	got := viewEntries(v)
	if !slices.Equal(got, want) {
		t.Fatalf("round trip: got %d entries, want %d distinct locations", len(got), len(want))
	}
	wantSup := slices.Clone(sup)
	sortIDs(wantSup)
	if !slices.Equal(v.Supersedes(), wantSup) {
		t.Errorf("supersedes = %v, want %v", v.Supersedes(), wantSup)
	}
	gotPacks := v.Packs()
	if !slices.IsSortedFunc(gotPacks, func(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) }) || len(gotPacks) != len(packs) {
		t.Errorf("pack table has %d packs or is unsorted, want %d sorted", len(gotPacks), len(packs))
	}
	if got, want := len(body), bodySize(len(packs), len(sup), len(want)); got != want {
		t.Errorf("body is %d bytes, want %d", got, want)
	}
}

func TestEncodeEmpty(t *testing.T) {
	v := mustView(t, nil, nil)
	if v.Len() != 0 || len(v.Packs()) != 0 || len(v.Supersedes()) != 0 || v.Search(crypto.ID{1}) != 0 {
		t.Errorf("empty view: len %d, packs %d, supersedes %d", v.Len(), len(v.Packs()), len(v.Supersedes()))
	}
}

// TestEncodeFormat pins the byte layout of FORMAT.md section 7.
func TestEncodeFormat(t *testing.T) {
	id, packID, sup := crypto.ID{0xaa}, crypto.ID{0xbb}, crypto.ID{0xcc}
	body := Encode([]Entry{{ID: id, Type: pack.TreeBlob, Pack: packID, Offset: 7, Length: 300}}, []crypto.ID{sup})
	var want []byte
	want = append(want, "CAIRNIX1"...)
	want = binary.LittleEndian.AppendUint32(want, 1)
	want = binary.LittleEndian.AppendUint32(want, 1)
	want = binary.LittleEndian.AppendUint32(want, 1)
	want = append(want, packID[:]...)
	want = append(want, sup[:]...)
	want = append(want, id[:]...)
	want = binary.LittleEndian.AppendUint32(want, 0)
	want = binary.LittleEndian.AppendUint32(want, 7)
	want = binary.LittleEndian.AppendUint32(want, 300)
	want = append(want, 2, 0, 0, 0)
	if !bytes.Equal(body, want) {
		t.Fatalf("body\n%x\nwant\n%x", body, want)
	}
}

func TestNewViewRejects(t *testing.T) {
	good := Encode([]Entry{location(crypto.ID{1}, crypto.ID{2}, 0)}, nil)
	for name, body := range map[string][]byte{
		"empty":      nil,
		"short":      good[:headerSize-1],
		"magic":      append([]byte("CAIRNIX2"), good[8:]...),
		"truncated":  good[:len(good)-1],
		"extra byte": append(slices.Clone(good), 0),
		"huge count": append(append([]byte("CAIRNIX1"), 0xff, 0xff, 0xff, 0xff), good[12:]...),
	} {
		if _, err := NewView(body); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: NewView error %v, want ErrCorrupt", name, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	a, b := location(crypto.ID{1}, crypto.ID{9}, 0), location(crypto.ID{2}, crypto.ID{9}, 0)
	good := Encode([]Entry{a, b}, nil)
	entOff := headerSize + crypto.IDSize
	edit := func(f func(body []byte)) []byte {
		body := slices.Clone(good)
		f(body)
		return body
	}
	for name, body := range map[string][]byte{
		"unsorted": edit(func(body []byte) {
			r0 := slices.Clone(body[entOff : entOff+recordSize])
			copy(body[entOff:], body[entOff+recordSize:])
			copy(body[entOff+recordSize:], r0)
		}),
		"type": edit(func(body []byte) { body[entOff+offType] = 3 }),
		"pack": edit(func(body []byte) { body[entOff+recordSize+offPack] = 1 }),
	} {
		v, err := NewView(body)
		if err != nil {
			t.Fatalf("%s: NewView: %v", name, err)
		}
		if err := v.Validate(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Validate error %v, want ErrCorrupt", name, err)
		}
		for i := range v.Len() {
			_ = v.Entry(i) // must not panic on an invalid body
		}
	}
}

// TestSearch compares interpolation search with bisection and with a linear
// reference, for uniform, shared-prefix and skewed IDs, present and absent.
func TestSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, shape := range []idShape{uniformIDs, sharedPrefix, skewedIDs} {
		for _, n := range []int{0, 1, 2, 17, 100, 5000, 20000} {
			ids := randomIDs(rng, max(1, n/3), shape)
			v := mustView(t, randomEntries(rng, n, ids, randomIDs(rng, 5, uniformIDs)), nil)
			fv := fileView(t, v.body)
			all := viewEntries(v)
			if !slices.Equal(viewEntries(fv), all) {
				t.Fatalf("shape %d, n %d: file view differs from memory view", shape, n)
			}
			queries := append(randomIDs(rng, 200, shape), ids[:min(len(ids), 200)]...)
			queries = append(queries, crypto.ID{}, maxID())
			for _, q := range ids[:min(len(ids), 50)] {
				queries = append(queries, neighbours(q)...)
			}
			for _, q := range queries {
				want := sort.Search(len(all), func(i int) bool { return bytes.Compare(all[i].ID[:], q[:]) >= 0 })
				if got := v.Search(q); got != want {
					t.Fatalf("shape %d, n %d: Search(%s) = %d, want %d", shape, n, q.Short(), got, want)
				}
				if got := v.binarySearch(q); got != want {
					t.Fatalf("shape %d, n %d: binarySearch(%s) = %d, want %d", shape, n, q.Short(), got, want)
				}
				if got := fv.Search(q); got != want {
					t.Fatalf("shape %d, n %d: file Search(%s) = %d, want %d", shape, n, q.Short(), got, want)
				}
				if got, want := matches(fv, q), matches(v, q); !slices.Equal(got, want) {
					t.Fatalf("shape %d, n %d: file view has %d matches for %s, memory view %d", shape, n, len(got), q.Short(), len(want))
				}
			}
		}
	}
}

func maxID() crypto.ID {
	var id crypto.ID
	for i := range id {
		id[i] = 0xff
	}
	return id
}

// neighbours returns the IDs just below and above id.
func neighbours(id crypto.ID) []crypto.ID {
	lo, hi := id, id
	for i := len(lo) - 1; i >= 0; i-- {
		lo[i]--
		if lo[i] != 0xff {
			break
		}
	}
	for i := len(hi) - 1; i >= 0; i-- {
		hi[i]++
		if hi[i] != 0 {
			break
		}
	}
	return []crypto.ID{lo, hi}
}

func TestSearchAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	body, sample := syntheticBody(10000, 5)
	v, err := NewView(body)
	if err != nil {
		t.Fatal(err)
	}
	fv := fileView(t, body)
	for name, v := range map[string]*View{"memory": v, "file": fv} {
		if allocs := testing.AllocsPerRun(100, func() { v.Search(sample[3]) }); allocs != 0 {
			t.Errorf("%s view: Search allocates %.1f times", name, allocs)
		}
	}
	set := NewSet()
	set.AddView(crypto.ID{1}, fv)
	if allocs := testing.AllocsPerRun(100, func() { set.Has(sample[3]) }); allocs != 0 {
		t.Errorf("Set.Has allocates %.1f times", allocs)
	}
}

// A file view caches the pack IDs it reads in a fixed table by position:
// with more packs than slots, so that positions share slots, every entry
// still gets its own pack, in any order and from several goroutines.
func TestFileViewPackCache(t *testing.T) {
	body, _ := syntheticBody(16*(3*recentPackSlots+7), 5)
	mem, err := NewView(body)
	if err != nil {
		t.Fatal(err)
	}
	file := fileView(t, body)
	if file.npacks <= recentPackSlots {
		t.Fatalf("%d packs: the test needs more than %d", file.npacks, recentPackSlots)
	}
	n := mem.Len()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 2 * n {
				i := rng.IntN(n)
				if got, want := file.Entry(i), mem.Entry(i); got != want {
					t.Errorf("entry %d: pack %s, want %s", i, got.Pack.Short(), want.Pack.Short())
					return
				}
			}
		})
	}
	wg.Wait()
	if err := file.Err(); err != nil {
		t.Fatal(err)
	}
}
