package repo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// repairFixture backs up three snapshots, each of a few packs and index
// objects, and returns the fixture and the snapshot IDs.
func repairFixture(t *testing.T) (*repotest.Fixture, []crypto.ID) {
	f := repotest.NewFixture(t)
	var snaps []crypto.ID
	for i := range 3 {
		files := map[string][]byte{
			fmt.Sprintf("/home/f%d", i): repotest.Content(uint64(i), 9000),
			"/home/shared":              repotest.Content(100, 5000),
		}
		snaps = append(snaps, f.Backup(f.Repo, repotest.T0.Add(time.Duration(i)*time.Hour), files))
	}
	return f, snaps
}

func objectNames(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	var out []string
	if err := s.List(context.Background(), prefix, func(oi storage.ObjectInfo) error {
		out = append(out, oi.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func verifyAll(f *repotest.Fixture, snaps []crypto.ID) {
	f.T.Helper()
	r := f.Open()
	if err := r.LoadIndex(f.Ctx); err != nil {
		f.T.Fatal(err)
	}
	for _, id := range snaps {
		f.Verify(r, id)
	}
}

// copyStore returns a copy of every object of s in a new memory store.
func copyStore(t *testing.T, s storage.Store) *mem.Store {
	t.Helper()
	ctx := context.Background()
	out := mem.New()
	for _, name := range objectNames(t, s, "") {
		data, err := storage.ReadAll(ctx, s, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := out.Put(ctx, name, data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestRepairIndexRebuildsLostIndex deletes every index object and plants
// junk and a false claim under index/: the repair rebuilds the index from
// the pack headers, removes the rest, and every snapshot restores exactly.
func TestRepairIndexRebuildsLostIndex(t *testing.T) {
	f, snaps := repairFixture(t)
	ctx := f.Ctx
	for _, n := range objectNames(t, f.Store, "index/") {
		if err := f.Store.Delete(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	junk := repo.ObjectName(repo.KindIndex, crypto.ID{1})
	if err := f.Store.Put(ctx, junk, []byte("junk")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Repo.SaveObject(ctx, repo.KindIndex, index.Encode(nil, []crypto.ID{{2}})); err != nil {
		t.Fatal(err)
	}

	r := f.Open()
	var progress []int
	st, err := r.RepairIndex(ctx, repo.RepairOptions{Progress: func(done, total int) { progress = append(progress, done) }})
	if err != nil {
		t.Fatal(err)
	}
	packs := len(objectNames(t, f.Store, "data/"))
	if st.Packs != packs || len(progress) != packs || st.Blobs == 0 || len(st.BadPacks) != 0 || st.OldIndexes != 2 || st.Deleted != 2 {
		t.Errorf("stats %+v with %d packs, %d progress calls", st, packs, len(progress))
	}
	if got := objectNames(t, f.Store, "index/"); !slices.Equal(got, []string{repo.ObjectName(repo.KindIndex, st.Written)}) {
		t.Errorf("index objects after repair: %v", got)
	}
	verifyAll(f, snaps)
}

// lookups returns every location of every blob the loaded index knows.
func lookups(t *testing.T, r *repo.Repository) map[crypto.ID][]index.Entry {
	t.Helper()
	out := make(map[crypto.ID][]index.Entry)
	if err := r.Index().Each(func(e index.Entry) error {
		if _, ok := out[e.ID]; !ok {
			all := r.Index().LookupAll(e.ID)
			slices.SortFunc(all, func(a, b index.Entry) int {
				return strings.Compare(a.Pack.String()+fmt.Sprint(a.Offset), b.Pack.String()+fmt.Sprint(b.Offset))
			})
			out[e.ID] = all
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRepairIndexHealthy repairs a healthy repository, first with
// append-only credentials: no lookup result changes, and the old objects
// that stay are superseded, provably.
func TestRepairIndexHealthy(t *testing.T) {
	f, snaps := repairFixture(t)
	ctx := f.Ctx
	before := f.Open()
	if err := before.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	want := lookups(t, before)
	old := objectNames(t, f.Store, "index/")

	check := func(what string, st repo.RepairStats) {
		t.Helper()
		r := f.Open()
		if err := r.LoadIndex(ctx); err != nil {
			t.Fatal(err)
		}
		got := lookups(t, r)
		if len(got) != len(want) {
			t.Fatalf("%s: %d blobs, want %d", what, len(got), len(want))
		}
		for id, es := range want {
			if !slices.Equal(got[id], es) {
				t.Fatalf("%s: lookups of %s changed: %v, want %v", what, id.Short(), got[id], es)
			}
		}
		if len(st.NotHeld) != 0 || len(r.UnprovenIndexClaims()) != 0 || len(r.Index().Names()) != 1 {
			t.Errorf("%s: not held %v, unproven %v, in use %d", what, st.NotHeld, r.UnprovenIndexClaims(), len(r.Index().Names()))
		}
	}

	appendOnly, err := repo.Open(ctx, createonly.New(f.Store), []byte(repotest.Passphrase), repo.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer appendOnly.Close()
	st, err := appendOnly.RepairIndex(ctx, repo.RepairOptions{})
	if err != nil || st.Deleted != 0 || st.Kept != len(old) {
		t.Fatalf("append-only repair: %+v %v", st, err)
	}
	check("append-only", st)

	st, err = f.Open().RepairIndex(ctx, repo.RepairOptions{})
	if err != nil || st.Deleted != len(old)+1 {
		t.Fatalf("repair: %+v %v", st, err)
	}
	check("owner", st)
	if n := len(objectNames(t, f.Store, "index/")); n != 1 {
		t.Errorf("%d index objects after repair", n)
	}
	verifyAll(f, snaps)
}

// TestRepairIndexDryRunAndBadPack damages one pack's header: a dry run
// names it and changes nothing, and the repair leaves it out and indexes
// the rest. A forged index entry is reported as not held.
func TestRepairIndexDryRunAndBadPack(t *testing.T) {
	f, _ := repairFixture(t)
	ctx := f.Ctx
	packs := objectNames(t, f.Store, "data/")
	victim := packs[0]
	data, err := storage.ReadAll(ctx, f.Store, victim)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-10] ^= 0xff // inside the sealed header
	if err := f.Store.Delete(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := f.Store.Put(ctx, victim, data); err != nil {
		t.Fatal(err)
	}
	before := objectNames(t, f.Store, "")

	st, err := f.Open().RepairIndex(ctx, repo.RepairOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.BadPacks) != 1 || st.BadPacks[0].Name != victim || !errors.Is(st.BadPacks[0].Err, repo.ErrCorrupt) {
		t.Errorf("BadPacks = %v, want %s", st.BadPacks, victim)
	}
	if len(st.NotHeld) == 0 || st.Written != (crypto.ID{}) {
		t.Errorf("dry run: not held %v, written %v", st.NotHeld, st.Written)
	}
	if got := objectNames(t, f.Store, ""); !slices.Equal(got, before) {
		t.Errorf("dry run changed the repository")
	}

	st, err = f.Open().RepairIndex(ctx, repo.RepairOptions{})
	if err != nil || len(st.BadPacks) != 1 || st.Packs != len(packs) {
		t.Fatalf("repair: %+v %v", st, err)
	}
	r := f.Open()
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	victimID, _ := crypto.ParseID(victim[len("data/xx/"):])
	err = r.Index().Each(func(e index.Entry) error {
		if e.Pack == victimID {
			return fmt.Errorf("entry %s of the damaged pack indexed", e.ID.Short())
		}
		return nil
	})
	if err != nil || r.Index().Len() != st.Blobs || st.Blobs == 0 {
		t.Errorf("rebuilt index: %v, %d entries, want %d", err, r.Index().Len(), st.Blobs)
	}
}

// TestRepairIndexStorageFailure makes pack headers unreadable: the repair
// stops and changes nothing, since leaving packs out would lose blobs.
func TestRepairIndexStorageFailure(t *testing.T) {
	f, snaps := repairFixture(t)
	fs := fault.New(f.Store)
	before := objectNames(t, f.Store, "")
	r, err := repo.Open(f.Ctx, fs, []byte(repotest.Passphrase), repo.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fs.FailPrefix(fault.OpStat, "data/", storage.ErrTransient)
	if _, err := r.RepairIndex(f.Ctx, repo.RepairOptions{}); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("RepairIndex with unreadable packs: %v", err)
	}
	if got := objectNames(t, f.Store, ""); !slices.Equal(got, before) {
		t.Errorf("a failed repair changed the repository")
	}
	verifyAll(f, snaps)
}

// TestRepairIndexCrash fails each Put and each Delete of a repair in turn,
// with and without the operation taking effect: afterwards every snapshot
// restores exactly, and a repair run again finishes cleanly.
func TestRepairIndexCrash(t *testing.T) {
	f, snaps := repairFixture(t)
	orig := f.Store
	if n := len(objectNames(t, orig, "index/")); n < 3 {
		t.Fatalf("only %d index objects: too few deletes to fail", n)
	}
	for _, op := range []fault.Op{fault.OpPut, fault.OpDelete} {
		for _, after := range []bool{false, true} {
			for n := 1; ; n++ {
				if n > 50 {
					t.Fatalf("%s: the repair never finished", op)
				}
				copied := copyStore(t, orig)
				fs := fault.New(copied)
				r, err := repo.Open(f.Ctx, fs, []byte(repotest.Passphrase), repo.OpenOptions{})
				if err != nil {
					t.Fatal(err)
				}
				fs.Add(fault.Rule{Op: op, Nth: n, AfterInner: after})
				_, err = r.RepairIndex(f.Ctx, repo.RepairOptions{})
				r.Close()
				f.Store = copied
				verifyAll(f, snaps)
				if err == nil {
					if n == 1 {
						t.Fatalf("%s: no call failed", op)
					}
					break
				}
				if !errors.Is(err, fault.ErrInjected) {
					t.Fatalf("%s #%d: %v", op, n, err)
				}
				st, err := f.Open().RepairIndex(f.Ctx, repo.RepairOptions{})
				if err != nil || len(objectNames(t, copied, "index/")) != 1 {
					t.Fatalf("%s #%d: repair after the crash: %+v %v", op, n, st, err)
				}
				verifyAll(f, snaps)
			}
		}
	}
}

// TestMergeIndexCrash fails each Put and each Delete of MergeIndex in turn
// (prune's and index upkeep's merge): every snapshot still restores.
func TestMergeIndexCrash(t *testing.T) {
	f, snaps := repairFixture(t)
	orig := f.Store
	for _, op := range []fault.Op{fault.OpPut, fault.OpDelete} {
		for _, after := range []bool{false, true} {
			for n := 1; ; n++ {
				if n > 50 {
					t.Fatalf("%s: the merge never finished", op)
				}
				copied := copyStore(t, orig)
				fs := fault.New(copied)
				r, err := repo.Open(f.Ctx, fs, []byte(repotest.Passphrase), repo.OpenOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := r.LoadIndex(f.Ctx); err != nil {
					t.Fatal(err)
				}
				fs.Add(fault.Rule{Op: op, Nth: n, AfterInner: after})
				_, err = r.MergeIndex(f.Ctx, nil)
				r.Close()
				f.Store = copied
				verifyAll(f, snaps)
				if err == nil {
					if n == 1 {
						t.Fatalf("%s: no call failed", op)
					}
					break
				}
				if !errors.Is(err, fault.ErrInjected) {
					t.Fatalf("%s #%d: %v", op, n, err)
				}
			}
		}
	}
	f.Store = orig
}
