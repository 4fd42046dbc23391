package index

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

func testBody(t *testing.T, seed uint64) (crypto.ID, []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	body := Encode(randomEntries(rng, 500, randomIDs(rng, 400, uniformIDs), randomIDs(rng, 5, uniformIDs)), nil)
	return crypto.Hash(body), body // any ID will do as the object name
}

func openTestCache(t *testing.T) *Cache {
	t.Helper()
	c, err := OpenCache(filepath.Join(t.TempDir(), "index"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestCacheStoreLoad(t *testing.T) {
	c := openTestCache(t)
	name, body := testBody(t, 1)
	if _, err := c.Load(name); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("Load of absent index: %v, want ErrCacheMiss", err)
	}
	if err := c.Store(name, body); err != nil {
		t.Fatal(err)
	}
	v, err := c.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := NewView(body)
	if !slices.Equal(viewEntries(v), viewEntries(want)) {
		t.Error("loaded view differs from the stored body")
	}
	if again, err := c.Load(name); err != nil || again != v {
		t.Errorf("second Load = %p, %v; want the same view", again, err)
	}
	// Storing again (a retried download) replaces the file harmlessly.
	if err := c.Store(name, body); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(name, body[:len(body)-1]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Store of an invalid body: %v, want ErrCorrupt", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Load(name); !errors.Is(err, ErrCacheMiss) {
		t.Errorf("Load after Close: %v, want ErrCacheMiss", err)
	}
}

// TestCacheCorruption damages a cached file in several ways; each must be
// detected, reported as a miss, removed, and rebuilt by the next Store.
func TestCacheCorruption(t *testing.T) {
	name, body := testBody(t, 2)
	size := int64(len(body) + trailerSize)
	damage := map[string]func(b []byte) []byte{
		"flip header":      func(b []byte) []byte { b[0] ^= 1; return b },
		"flip entry":       func(b []byte) []byte { b[len(body)-10] ^= 0x40; return b },
		"flip checksum":    func(b []byte) []byte { b[len(body)+8] ^= 1; return b },
		"flip trailer":     func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		"flip length":      func(b []byte) []byte { b[len(body)] ^= 1; return b },
		"truncate 1":       func(b []byte) []byte { return b[:len(b)-1] },
		"truncate trailer": func(b []byte) []byte { return b[:len(body)] },
		"truncate half":    func(b []byte) []byte { return b[:len(b)/2] },
		"empty":            func(b []byte) []byte { return nil },
		"append":           func(b []byte) []byte { return append(b, 0) },
		"flip count":       func(b []byte) []byte { b[8] ^= 1; return b },
	}
	for what, f := range damage {
		t.Run(what, func(t *testing.T) {
			c := openTestCache(t)
			if err := c.Store(name, body); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(c.Dir(), name.String())
			data, err := os.ReadFile(path)
			if err != nil || int64(len(data)) != size {
				t.Fatalf("cache file: %d bytes, %v", len(data), err)
			}
			if err := os.WriteFile(path, f(data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = c.Load(name)
			if !errors.Is(err, ErrCacheMiss) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load of damaged file: %v, want ErrCacheMiss and ErrCorrupt", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("damaged file was not removed: %v", err)
			}
			if err := c.Store(name, body); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Load(name); err != nil {
				t.Errorf("Load after rebuild: %v", err)
			}
		})
	}
}

// TestCacheWrongName checks that a valid file under another object's name
// is rejected: the checksum covers the name.
func TestCacheWrongName(t *testing.T) {
	c := openTestCache(t)
	name, body := testBody(t, 3)
	if err := c.Store(name, body); err != nil {
		t.Fatal(err)
	}
	other := crypto.ID{0x42}
	if err := os.Rename(filepath.Join(c.Dir(), name.String()), filepath.Join(c.Dir(), other.String())); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Load(other); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load of a renamed file: %v, want ErrCorrupt", err)
	}
}

func TestCacheRetain(t *testing.T) {
	c := openTestCache(t)
	var names []crypto.ID
	for seed := range uint64(3) {
		name, body := testBody(t, 10+seed)
		if err := c.Store(name, body); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	// A view loaded before Retain removes its file stays usable.
	v, err := c.Load(names[1])
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, age time.Duration) {
		p := filepath.Join(c.Dir(), name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	write("notes.txt", 0)
	write(tempPrefix+"old", 2*time.Hour)
	write(tempPrefix+"young", 0)

	if err := c.Retain(names[:1]); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := []string{tempPrefix + "young", names[0].String(), "notes.txt"}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("after Retain: %v, want %v", left, want)
	}
	if v.Len() == 0 || v.Entry(v.Len()-1).ID.IsZero() {
		t.Error("view of a retained-away file is unusable")
	}
	if _, err := c.Load(names[2]); !errors.Is(err, ErrCacheMiss) {
		t.Errorf("Load of removed file: %v, want ErrCacheMiss", err)
	}
}

// TestCacheRebuild follows a repository client through a missing, a
// corrupt and a valid cache file: the body is fetched exactly when needed.
func TestCacheRebuild(t *testing.T) {
	c := openTestCache(t)
	name, body := testBody(t, 20)
	fetches := 0
	fetch := func() ([]byte, error) { fetches++; return body, nil }
	load := func() *View {
		t.Helper()
		v, err := c.LoadOrFetch(name, fetch)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	load()
	if fetches != 1 {
		t.Fatalf("missing cache: %d fetches, want 1", fetches)
	}
	// A fresh cache over the same directory (the next run) uses the file.
	c2, err := OpenCache(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.LoadOrFetch(name, fetch); err != nil || fetches != 1 {
		t.Fatalf("valid cache: %d fetches (%v), want 1", fetches, err)
	}
	// Corrupt it; the next run detects that and fetches again.
	path := filepath.Join(c.Dir(), name.String())
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c3, err := OpenCache(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	v, err := c3.LoadOrFetch(name, fetch)
	if err != nil || fetches != 2 {
		t.Fatalf("corrupt cache: %d fetches (%v), want 2", fetches, err)
	}
	want, _ := NewView(body)
	if !slices.Equal(viewEntries(v), viewEntries(want)) {
		t.Error("rebuilt view differs")
	}
	if _, err := c3.LoadOrFetch(crypto.ID{9}, func() ([]byte, error) { return body[:10], nil }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("invalid fetched body: %v, want ErrCorrupt", err)
	}
}

// TestCacheReadErrors uses views after their cache closed, the way a disk
// error would show: lookups find nothing, and every call with an error
// result reports it.
func TestCacheReadErrors(t *testing.T) {
	c := openTestCache(t)
	name, body := testBody(t, 30)
	if err := c.Store(name, body); err != nil {
		t.Fatal(err)
	}
	v, err := c.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet()
	set.AddView(name, v)
	id := v.Entry(v.Len() / 2).ID
	if !set.Has(id) || set.Err() != nil {
		t.Fatal("lookup failed before Close")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if set.Has(id) {
		t.Error("Has is true for an unreadable view")
	}
	if _, ok := set.Lookup(id); ok {
		t.Error("Lookup found an entry in an unreadable view")
	}
	if set.Err() == nil || v.Err() == nil {
		t.Error("Err is nil after failed reads")
	}
	if err := set.Each(func(Entry) error { return nil }); err == nil {
		t.Error("Each succeeded on an unreadable view")
	}
	if err := v.Validate(); err == nil {
		t.Error("Validate succeeded on an unreadable view")
	}
	if _, err := TryMerge([]*View{v}, nil, nil); err == nil {
		t.Error("TryMerge succeeded on an unreadable view")
	}
	defer func() {
		if recover() == nil {
			t.Error("Merge did not panic on an unreadable view")
		}
	}()
	Merge([]*View{v}, nil, nil)
}

// TestFingerprintsAvoidReads checks that a file view reads nothing for an
// ID whose fingerprint no entry of its block carries: after Close, such a
// lookup reports no read error, while a lookup of a present ID does.
func TestFingerprintsAvoidReads(t *testing.T) {
	c := openTestCache(t)
	body, sample := syntheticBody(10000, 7)
	name := crypto.Hash(body)
	if err := c.Store(name, body); err != nil {
		t.Fatal(err)
	}
	v, err := c.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.fps) != v.Len() {
		t.Fatalf("%d fingerprints for %d entries", len(v.fps), v.Len())
	}
	set := NewSet()
	set.AddView(name, v)
	present := sample[len(sample)/2]
	absent := present
	absent[9] ^= 0x55 // same block, other fingerprint
	if !set.Has(present) || set.Has(absent) || set.Err() != nil {
		t.Fatal("lookups wrong before Close")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if set.Has(absent) || set.Err() != nil {
		t.Fatalf("lookup of an absent ID read the file: %v", set.Err())
	}
	if set.Has(present) || set.Err() == nil {
		t.Fatal("lookup of a present ID did not read the file")
	}
}
