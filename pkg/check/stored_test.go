package check

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
)

// replace stores data under name in place of what is there. Put never
// replaces, so the test deletes first, as someone with full access to the
// storage (or a failing disk) would.
func (f *fixture) replace(name string, data []byte) {
	f.T.Helper()
	if err := f.Store.Delete(f.Ctx, name); err != nil {
		f.T.Fatal(err)
	}
	if err := f.Store.Put(f.Ctx, name, data); err != nil {
		f.T.Fatal(err)
	}
}

// flipAt flips one bit of the stored object name at offset (negative:
// from the end).
func (f *fixture) flipAt(name string, offset int) {
	f.T.Helper()
	data, err := storage.ReadAll(f.Ctx, f.Store, name)
	if err != nil {
		f.T.Fatal(err)
	}
	if offset < 0 {
		offset += len(data)
	}
	data[offset] ^= 0x08
	f.replace(name, data)
}

// openCached opens a client with a local cache in dir and loads the index,
// which fills the cache: the warm cache of a machine that backs up daily.
func (f *fixture) openCached(dir string) (*repo.Repository, *index.Cache) {
	f.T.Helper()
	r, err := repo.Open(f.Ctx, f.Store, []byte(repotest.Passphrase), repo.OpenOptions{Host: "test", CacheDir: dir})
	if err != nil {
		f.T.Fatal(err)
	}
	f.T.Cleanup(func() { r.Close() })
	if err := r.LoadIndex(f.Ctx); err != nil {
		f.T.Fatal(err)
	}
	cache, err := index.OpenCache(filepath.Join(dir, r.Config().ID, "index"))
	if err != nil {
		f.T.Fatal(err)
	}
	f.T.Cleanup(func() { cache.Close() })
	return r, cache
}

// everyKind makes a repository holding objects of every kind: snapshots
// (and their packs and index objects), a second key, leases and a
// deletion marker.
func everyKind(t *testing.T) *fixture {
	f := newFixture(t)
	twoSnapshots(f)
	if _, err := f.Repo.AddKey(f.Ctx, []byte("second"), crypto.TestKDF()); err != nil {
		t.Fatal(err)
	}
	// A run with append-only credentials ends with a done lease (one that
	// may delete leaves no lease).
	lease, err := f.openOn(createonly.New(f.Store)).StartLease(f.Ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	if err := lease.Done(f.Ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Repo.SaveDeletion(f.Ctx, repo.Deletion{Created: repotest.T0}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) first(kind string) crypto.ID {
	f.T.Helper()
	ids, err := f.Repo.ListObjects(f.Ctx, kind)
	if err != nil || len(ids) == 0 {
		f.T.Fatalf("no %s objects: %v", kind, err)
	}
	return ids[0]
}

func (f *fixture) firstPack() crypto.ID {
	f.T.Helper()
	var first crypto.ID
	err := f.Repo.ListPacks(f.Ctx, func(id crypto.ID, _ int64) error {
		if first == (crypto.ID{}) {
			first = id
		}
		return nil
	})
	if err != nil {
		f.T.Fatal(err)
	}
	return first
}

// TestFlippedByteInStoredObjectWithWarmCache flips one byte of one object
// of each kind in the repository after a client's cache was filled: check
// must name the object from what is stored, whatever the cache holds.
func TestFlippedByteInStoredObjectWithWarmCache(t *testing.T) {
	kinds := []struct {
		name     string
		readData bool
		damage   func(f *fixture) crypto.ID // returns the damaged object's ID
	}{
		{"index", false, func(f *fixture) crypto.ID {
			id := f.first(repo.KindIndex)
			f.flipAt(repo.ObjectName(repo.KindIndex, id), 40)
			return id
		}},
		{"snapshot", false, func(f *fixture) crypto.ID {
			id := f.first(repo.KindSnapshot)
			f.flipAt(repo.ObjectName(repo.KindSnapshot, id), 30)
			return id
		}},
		{"key", false, func(f *fixture) crypto.ID {
			id := f.first(repo.KindKey)
			f.flipAt(repo.ObjectName(repo.KindKey, id), 20)
			return id
		}},
		{"lease", false, func(f *fixture) crypto.ID {
			id := f.first(repo.KindLease)
			f.flipAt(repo.ObjectName(repo.KindLease, id), 30)
			return id
		}},
		{"deletion", false, func(f *fixture) crypto.ID {
			id := f.first(repo.KindDeletion)
			f.flipAt(repo.ObjectName(repo.KindDeletion, id), 30)
			return id
		}},
		{"pack header", false, func(f *fixture) crypto.ID {
			p := f.firstPack()
			f.flipAt(repo.PackName(p), -10)
			return p
		}},
		{"pack data", true, func(f *fixture) crypto.ID {
			p := f.firstPack()
			f.flipByte(p)
			return p
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			f := everyKind(t)
			r, cache := f.openCached(t.TempDir())
			victim := k.damage(f)
			rep := mustCheck(t, r, Options{ReadData: k.readData, Cache: cache})
			if rep.OK() {
				t.Fatalf("check passes with a flipped byte in %s %s", k.name, victim.Short())
			}
			if !strings.Contains(strings.Join(rep.Errors, "\n"), victim.String()) {
				t.Errorf("errors do not name %s %s:\n%s", k.name, victim, strings.Join(rep.Errors, "\n"))
			}
			if !rep.Complete() {
				t.Errorf("damage reported as unreadable: %v", rep.Unreadable)
			}
			if k.name == "index" {
				if _, err := cache.Load(victim); err == nil {
					t.Errorf("the cache still holds the damaged index %s", victim.Short())
				}
				// Its packs are not litter for prune to remove.
				if info := strings.Join(rep.Info, "\n"); strings.Contains(info, "the next prune removes it") {
					t.Errorf("packs of a damaged index called litter:\n%s", info)
				}
			}
		})
	}
}

// TestCachedIndexThatDisagreesIsRebuilt plants, in a warm cache, a valid
// index body under the name of a stored index object but with one entry
// fewer: check reports it, uses the stored object, and rebuilds the cache.
func TestCachedIndexThatDisagreesIsRebuilt(t *testing.T) {
	f := newFixture(t)
	twoSnapshots(f)
	r, cache := f.openCached(t.TempDir())
	id := f.first(repo.KindIndex)
	body, err := f.Repo.LoadObject(f.Ctx, repo.KindIndex, id)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := index.NewView(body)
	if err != nil {
		t.Fatal(err)
	}
	var entries []index.Entry
	for i := 1; i < stored.Len(); i++ {
		entries = append(entries, stored.Entry(i))
	}
	if err := cache.Store(id, index.Encode(entries, stored.Supersedes())); err != nil {
		t.Fatal(err)
	}
	// A second instance, as another process sharing the directory.
	other, err := index.OpenCache(cache.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	rep := mustCheck(t, r, Options{Cache: other})
	if !rep.OK() || !rep.Complete() {
		t.Fatalf("a bad cache copy is repository damage: %v %v", rep.Errors, rep.Unreadable)
	}
	if !slices.ContainsFunc(rep.Info, func(s string) bool { return strings.Contains(s, id.String()) && strings.Contains(s, "rebuilt") }) {
		t.Errorf("disagreeing cache copy of %s not reported: %v", id.Short(), rep.Info)
	}
	fresh, err := index.OpenCache(cache.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	v, err := fresh.Load(id)
	if err != nil {
		t.Fatalf("cache not rebuilt: %v", err)
	}
	if !sameIndex(id, v, stored) {
		t.Errorf("rebuilt cache copy of %s differs from the stored object", id.Short())
	}
}

// TestJunkObjectsAreDamageNotUnreachable plants objects anyone with write
// access could: junk under its own hash in keys/, snapshots/ and leases/.
// Their bytes arrive intact, so they are damage, named, and the check is
// complete.
func TestJunkObjectsAreDamageNotUnreachable(t *testing.T) {
	f := newFixture(t)
	twoSnapshots(f)
	var planted []crypto.ID
	for _, kind := range []string{repo.KindKey, repo.KindSnapshot, repo.KindLease} {
		junk := []byte(`{"version": 1, "kdf": [` + kind)
		id := crypto.Hash(junk)
		if err := f.Store.Put(f.Ctx, repo.ObjectName(kind, id), junk); err != nil {
			t.Fatal(err)
		}
		planted = append(planted, id)
	}
	rep := mustCheck(t, f.Open(), Options{})
	all := strings.Join(rep.Errors, "\n")
	for _, id := range planted {
		if !strings.Contains(all, id.String()) {
			t.Errorf("junk object %s not named:\n%s", id.Short(), all)
		}
	}
	if !rep.Complete() {
		t.Errorf("junk reported as unreadable: %v", rep.Unreadable)
	}
}

// extras is a repository with the optional reports check asks for.
type extras struct{ *repo.Repository }

func (extras) LeaseSummary(context.Context) (int, int, int, error) { return 1, 2, 5, nil }
func (extras) StaleTempFiles(context.Context) (int, int64, error) {
	return 3, 9 << 20, nil
}

func TestLeaseAndTempInfo(t *testing.T) {
	f := newFixture(t)
	twoSnapshots(f)
	ctx, cancel := context.WithCancel(f.Ctx)
	defer cancel()
	if _, err := f.Repo.StartLease(ctx, "backup"); err != nil { // never ended: killed
		t.Fatal(err)
	}
	rep := mustCheck(t, f.Open(), Options{})
	if !rep.OK() || !slices.ContainsFunc(rep.Info, func(s string) bool { return strings.Contains(s, "1 runs are live") }) {
		t.Errorf("open lease not reported: %v %v", rep.Errors, rep.Info)
	}
	rep = mustCheck(t, extras{f.Open()}, Options{})
	info := strings.Join(rep.Info, "\n")
	for _, want := range []string{"1 runs are live; 2 runs ended without releasing their lease", "3 temporary files of interrupted uploads (9.0 MiB)"} {
		if !strings.Contains(info, want) {
			t.Errorf("info lacks %q:\n%s", want, info)
		}
	}
	if strings.Contains(info, "without a done lease") {
		t.Errorf("own lease count reported beside LeaseCounts:\n%s", info)
	}
}
