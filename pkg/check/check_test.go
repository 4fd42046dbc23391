package check

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// twoSnapshots backs up two overlapping file sets and returns their IDs.
func twoSnapshots(f *fixture) (crypto.ID, crypto.ID) {
	files1 := map[string][]byte{
		"/home/a/x": repotest.Content(1, 5000),
		"/home/a/y": repotest.Content(2, 300),
		"/etc/z":    repotest.Content(3, 4000),
	}
	s1 := f.Backup(f.Repo, repotest.T0, files1)
	files2 := maps.Clone(files1)
	files2["/home/a/y"] = repotest.Content(4, 2000)
	files2["/home/b/w"] = repotest.Content(5, 3500)
	s2 := f.Backup(f.Repo, repotest.T0.Add(time.Hour), files2)
	return s1, s2
}

func mustCheck(t *testing.T, r Repo, opts Options) *Report {
	t.Helper()
	rep, err := Check(context.Background(), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// affectedPaths lists "snapshot:path" for every file whose content
// includes a blob that bad reports as damaged.
func (f *fixture) affectedPaths(bad func(blob crypto.ID) bool) []string {
	var out []string
	keys := f.Repo.Keys()
	for id, files := range f.Files {
		for p, data := range files {
			for off := 0; off < len(data); off += repotest.ChunkSize {
				if bad(keys.BlobID(data[off:min(off+repotest.ChunkSize, len(data))])) {
					out = append(out, id.Short()+":"+p)
					break
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func reported(rep *Report) []string {
	var out []string
	for _, a := range rep.Affected {
		out = append(out, a.Snapshot.Short()+":"+a.Path)
	}
	slices.Sort(out)
	return out
}

func TestCleanRepositoryPasses(t *testing.T) {
	f := newFixture(t)
	twoSnapshots(f)
	for _, readData := range []bool{false, true} {
		rep := mustCheck(t, f.Open(), Options{ReadData: readData})
		if !rep.OK() || len(rep.DamagedPacks) > 0 || len(rep.DamagedBlobs) > 0 || len(rep.Affected) > 0 {
			t.Fatalf("read data %v: clean repository fails: %+v", readData, rep)
		}
		if rep.Snapshots != 2 || rep.Packs == 0 || rep.Blobs == 0 || rep.Trees == 0 {
			t.Errorf("counts: %+v", rep)
		}
		if readData && rep.PacksRead != rep.Packs {
			t.Errorf("read %d of %d packs", rep.PacksRead, rep.Packs)
		}
	}
}

func TestMissingPackNamesPackAndFiles(t *testing.T) {
	f := newFixture(t)
	_, s2 := twoSnapshots(f)
	victim := f.PacksOf(f.Repo, s2, "/home/b/w")[0]
	want := f.affectedPaths(func(b crypto.ID) bool {
		e, _ := f.Repo.Index().Lookup(b)
		return e.Pack == victim
	})
	if err := f.Store.Delete(f.Ctx, repo.PackName(victim)); err != nil {
		t.Fatal(err)
	}

	rep := mustCheck(t, f.Open(), Options{})
	if rep.OK() {
		t.Fatal("check passes with a pack missing")
	}
	if !slices.Equal(rep.DamagedPacks, []crypto.ID{victim}) {
		t.Errorf("damaged packs %v, want %s", rep.DamagedPacks, victim.Short())
	}
	if !strings.Contains(strings.Join(rep.Errors, "\n"), victim.String()) {
		t.Errorf("errors do not name pack %s:\n%s", victim, strings.Join(rep.Errors, "\n"))
	}
	if got := reported(rep); !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("affected %v, want %v", got, want)
	}
}

// flipByte damages one byte in the middle of the first blob of pack p and
// returns that blob's index entry.
func (f *fixture) flipByte(p crypto.ID) index.Entry {
	f.T.Helper()
	var first index.Entry
	found := false
	_ = f.Repo.Index().Each(func(e index.Entry) error {
		if e.Pack == p && (!found || e.Offset < first.Offset) {
			first, found = e, true
		}
		return nil
	})
	if !found {
		f.T.Fatalf("pack %s has no index entries", p.Short())
	}
	name := repo.PackName(p)
	data, err := storage.ReadAll(f.Ctx, f.Store, name)
	if err != nil {
		f.T.Fatal(err)
	}
	data[first.Offset+first.Length/2] ^= 0x40
	f.replace(name, data)
	return first
}

func TestFlippedByteNeedsReadData(t *testing.T) {
	f := newFixture(t)
	_, s2 := twoSnapshots(f)
	victim := f.PacksOf(f.Repo, s2, "/home/b/w")[0]
	bad := f.flipByte(victim)
	want := f.affectedPaths(func(b crypto.ID) bool { return b == bad.ID })

	if rep := mustCheck(t, f.Open(), Options{}); !rep.OK() {
		t.Fatalf("structural check sees a flipped byte inside a blob: %v", rep.Errors)
	}
	rep := mustCheck(t, f.Open(), Options{ReadData: true})
	if rep.OK() {
		t.Fatal("check --read-data passes with a flipped byte")
	}
	if !slices.Equal(rep.DamagedPacks, []crypto.ID{victim}) {
		t.Errorf("damaged packs %v, want %s", rep.DamagedPacks, victim.Short())
	}
	if !slices.Equal(rep.DamagedBlobs, []crypto.ID{bad.ID}) {
		t.Errorf("damaged blobs %v, want %s", rep.DamagedBlobs, bad.ID.Short())
	}
	if got := reported(rep); !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("affected %v, want %v", got, want)
	}
	if !strings.Contains(strings.Join(rep.Errors, "\n"), victim.String()) {
		t.Errorf("errors do not name pack %s:\n%s", victim, strings.Join(rep.Errors, "\n"))
	}
}

// recordingStore records whole-object reads of packs.
type recordingStore struct {
	storage.Store
	mu    sync.Mutex
	reads []string
}

func (s *recordingStore) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if offset == 0 && length < 0 && strings.HasPrefix(name, "data/") {
		s.mu.Lock()
		s.reads = append(s.reads, name)
		s.mu.Unlock()
	}
	return s.Store.Get(ctx, name, offset, length)
}

func TestSubsetsCoverEveryPackOnce(t *testing.T) {
	f := newFixture(t)
	for i := range 6 {
		f.Backup(f.Repo, repotest.T0.Add(time.Duration(i)*time.Hour), map[string][]byte{
			"/d/f": repotest.Content(uint64(100+i), 6000),
		})
	}
	var all []crypto.ID
	if err := f.Repo.ListPacks(f.Ctx, func(id crypto.ID, _ int64) error {
		all = append(all, id)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(all) < 8 {
		t.Fatalf("only %d packs; the test needs more", len(all))
	}
	victim := f.PacksOf(f.Repo, firstSnapshot(f), "/d/f")[0]
	f.flipByte(victim)

	const m = 3
	readCount := make(map[string]int)
	for n := 1; n <= m; n++ {
		rs := &recordingStore{Store: f.Store}
		rep := mustCheck(t, f.openOn(rs), Options{Subset: subsetString(n, m)})
		if holds := int(victim[0])%m == n-1; rep.OK() == holds {
			t.Errorf("subset %d/%d: OK %v, but it does %shold the damaged pack", n, m, rep.OK(), map[bool]string{true: "", false: "not "}[holds])
		}
		if rep.PacksRead != len(rs.reads) {
			t.Errorf("subset %d/%d: PacksRead %d, %d reads", n, m, rep.PacksRead, len(rs.reads))
		}
		for _, name := range rs.reads {
			readCount[name]++
		}
	}
	for _, p := range all {
		if c := readCount[repo.PackName(p)]; c != 1 {
			t.Errorf("pack %s read %d times over %d subsets", p.Short(), c, m)
		}
	}
	if len(readCount) != len(all) {
		t.Errorf("%d objects read, %d packs", len(readCount), len(all))
	}

	rep := mustCheck(t, f.Open(), Options{Subset: "50%"})
	if want := (len(all) + 1) / 2; rep.PacksRead != want {
		t.Errorf("50%%: read %d packs, want %d", rep.PacksRead, want)
	}
}

func firstSnapshot(f *fixture) crypto.ID {
	for id := range f.Files {
		return id
	}
	return crypto.ID{}
}

func subsetString(n, m int) string { return fmt.Sprintf("%d/%d", n, m) }

func TestParseSubset(t *testing.T) {
	good := map[string]Subset{"1/3": {N: 1, M: 3}, "3/3": {N: 3, M: 3}, "256/256": {N: 256, M: 256}, "10%": {Percent: 10}, "2.5%": {Percent: 2.5}, "100%": {Percent: 100}}
	for s, want := range good {
		if got, err := ParseSubset(s); err != nil || got != want {
			t.Errorf("ParseSubset(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0/3", "4/3", "1/257", "1/", "/3", "0%", "101%", "x%", "abc", "1/0"} {
		if _, err := ParseSubset(s); err == nil {
			t.Errorf("ParseSubset(%q) accepted", s)
		}
	}
}

func TestOrphanPackIsInfo(t *testing.T) {
	f := newFixture(t)
	twoSnapshots(f)
	before, err := f.Repo.ListObjects(f.Ctx, repo.KindIndex)
	if err != nil {
		t.Fatal(err)
	}
	// A backup that uploaded a pack and its index, then lost the index.
	r := f.Open()
	saver := r.NewSaver(f.Ctx, repo.SaverOptions{})
	if _, err := saver.SaveBlob(f.Ctx, 1, repotest.Content(99, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := saver.Flush(f.Ctx); err != nil {
		t.Fatal(err)
	}
	after, err := f.Repo.ListObjects(f.Ctx, repo.KindIndex)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range after {
		if !slices.Contains(before, id) {
			if err := f.Repo.DeleteObject(f.Ctx, repo.KindIndex, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep := mustCheck(t, f.Open(), Options{ReadData: true})
	if !rep.OK() {
		t.Fatalf("orphan pack is an error: %v", rep.Errors)
	}
	if !strings.Contains(strings.Join(rep.Info, "\n"), "in no index") {
		t.Errorf("orphan pack not reported: %v", rep.Info)
	}
}

func TestDamagedIndexObjectIsNamed(t *testing.T) {
	f := newFixture(t)
	_, s2 := twoSnapshots(f)
	ids, err := f.Repo.ListObjects(f.Ctx, repo.KindIndex)
	if err != nil {
		t.Fatal(err)
	}
	victim := ids[0]
	f.replace(repo.ObjectName(repo.KindIndex, victim), []byte("garbage"))
	rep := mustCheck(t, f.Open(), Options{})
	if rep.OK() || !strings.Contains(strings.Join(rep.Errors, "\n"), victim.String()) {
		t.Fatalf("damaged index %s not named: %v", victim.Short(), rep.Errors)
	}
	_ = s2
}
