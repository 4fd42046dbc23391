package restorer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// fixture is a source tree backed up into a fresh in-memory repository
// with small chunks and small packs, so files span many packs.
type fixture struct {
	src   *source
	store *countingStore
	fault *fault.Store
	snap  *snapshot.Snapshot
	// wrap, when set, changes the repository restoreTo restores from
	// (for instance withoutLengths, to take the 1.0 path).
	wrap func(*repo.Repository) Repo
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	fx := &fixture{src: buildSource(t, t.TempDir())}
	fx.fault = fault.New(mem.New())
	fx.store = newCountingStore(fx.fault)
	testRepo(t, fx.store, smallChunks(), 256<<10)
	fx.snap = backup(t, fx.store, fx.src.root)
	return fx
}

// restoreTo restores the fixture's snapshot with a freshly opened
// repository, collecting warnings.
func (fx *fixture) restoreTo(t testing.TB, opts Options, tune func(*restorer)) (*Result, []string, error) {
	t.Helper()
	r := openRepo(t, fx.store)
	var mu sync.Mutex
	var warnings []string
	opts.Warn = func(path string, err error) {
		mu.Lock()
		warnings = append(warnings, path+": "+err.Error())
		mu.Unlock()
	}
	var rr Repo = r
	if fx.wrap != nil {
		rr = fx.wrap(r)
	}
	fx.store.reset()
	res, err := restore(context.Background(), rr, fx.snap, opts, tune)
	return res, warnings, err
}

func TestRestoreRoundTrip(t *testing.T) {
	fx := newFixture(t)
	r := openRepo(t, fx.store)
	packs := dataPacks(t, r)
	if len(packs) < 10 {
		t.Fatalf("only %d data packs; the test wants files spread over many", len(packs))
	}
	for _, tc := range []struct {
		name        string
		targetExist bool
		verify      bool
	}{
		{"fresh target", false, false},
		{"existing target, verify", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "target")
			if tc.targetExist {
				must(t, os.Mkdir(target, 0o755))
			}
			var progress []Progress
			res, warnings, err := fx.restoreTo(t, Options{Target: target, Verify: tc.verify,
				Progress: func(p Progress) { progress = append(progress, p) }}, nil)
			if err != nil {
				t.Fatalf("restore: %v\nwarnings: %q", err, warnings)
			}
			if len(warnings) > 0 || res.Errors > 0 {
				t.Fatalf("warnings: %q", warnings)
			}
			gets := fx.store.reset()
			for name := range packs {
				if gets[name] != 1 {
					t.Errorf("data pack %s fetched %d times, want once", name, gets[name])
				}
			}
			compareTrees(t, fx.src.root, target+fx.src.root)
			checkSpecials(t, target+fx.src.root)
			if len(progress) == 0 {
				t.Fatal("no progress reported")
			}
			last := progress[len(progress)-1]
			if last.Files != last.TotalFiles || last.Bytes != last.TotalBytes || last.Bytes < sparseSize {
				t.Errorf("final progress %+v: want files and bytes complete", last)
			}
			if res.Bytes != last.Bytes || res.Dirs < 10 || res.Files < 20 {
				t.Errorf("result %+v, final progress %+v", res, last)
			}
		})
	}
}

func TestRestoreInclude(t *testing.T) {
	fx := newFixture(t)
	target := filepath.Join(t.TempDir(), "target")
	// Overlapping includes, and one that sorts between a path and its
	// subtree.
	include := []string{fx.src.root + "/nested", fx.src.root + "/nested/a/b", fx.src.root + "/" + repeatedName, fx.src.root + "/nested-x/"}
	_, warnings, err := fx.restoreTo(t, Options{Target: target, Include: include}, nil)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("restore: %v, warnings %q", err, warnings)
	}
	compareTrees(t, fx.src.root+"/nested", target+fx.src.root+"/nested")
	compareTrees(t, fx.src.root+"/nested-x", target+fx.src.root+"/nested-x")
	compareEntry(t, repeatedName, fx.src.root+"/"+repeatedName, target+fx.src.root+"/"+repeatedName)
	entries, err := os.ReadDir(target + fx.src.root)
	must(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"nested", "nested-x", repeatedName}; !slices.Equal(names, want) {
		t.Errorf("restored %q, want only %q", names, want)
	}
	// The parents of included paths get their metadata too.
	compareEntry(t, "src", fx.src.root, target+fx.src.root)

	_, _, err = fx.restoreTo(t, Options{Target: t.TempDir(), Include: []string{fx.src.root + "/no/such/path"}}, nil)
	if !errors.Is(err, snapshot.ErrPathNotFound) {
		t.Errorf("include of a missing path: %v, want ErrPathNotFound", err)
	}
}

func TestRestoreDamagedPack(t *testing.T) {
	fx := newFixture(t)
	r := openRepo(t, fx.store)
	ctx := context.Background()

	// Damage the pack holding the first blob of random.bin.
	node, err := snapshot.FindPath(ctx, r, fx.snap.Tree, fx.src.root+"/random.bin")
	must(t, err)
	e, ok := r.Index().Lookup(node.Content[0])
	if !ok {
		t.Fatal("blob not in index")
	}
	fx.fault.Corrupt(repo.PackName(e.Pack), int64(e.Offset)+60)

	// Every file with that blob is damaged; the rest, including files with
	// other blobs of the same pack, is not.
	damaged := map[string]bool{}
	neighbours := 0 // intact files with blobs in the damaged pack
	must(t, snapshot.Walk(ctx, r, fx.snap.Tree, func(path []byte, n *snapshot.Node) error {
		if slices.Contains(n.Content, e.ID) {
			damaged[string(path)] = true
			return nil
		}
		for _, id := range n.Content {
			if loc, _ := r.Index().Lookup(id); loc.Pack == e.Pack {
				neighbours++
				break
			}
		}
		return nil
	}))
	if len(damaged) == 0 || neighbours == 0 {
		t.Fatalf("%d damaged files, %d intact ones sharing the pack; want some of both", len(damaged), neighbours)
	}

	target := t.TempDir()
	res, warnings, err := fx.restoreTo(t, Options{Target: target}, nil)
	if err == nil {
		t.Fatal("restore of a damaged pack succeeded")
	}
	for path := range damaged {
		if !strings.Contains(err.Error(), target+path) {
			t.Errorf("error does not name damaged file %s:\n%v", target+path, err)
		}
	}
	if !strings.Contains(err.Error(), e.Pack.String()) || !strings.Contains(err.Error(), e.ID.Short()) {
		t.Errorf("error does not name the pack and blob:\n%v", err)
	}
	if !errors.Is(err, repo.ErrCorrupt) && !strings.Contains(err.Error(), "damaged") {
		t.Errorf("error: %v", err)
	}
	if res.Errors < len(damaged) || len(warnings) < len(damaged) {
		t.Errorf("%d errors, %d warnings; want at least %d", res.Errors, len(warnings), len(damaged))
	}
	// Files in other packs are restored exactly.
	restored := target + fx.src.root
	must(t, filepath.WalkDir(fx.src.root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if damaged[path] || strings.HasSuffix(path, "/hard2") && damaged[fx.src.root+"/hard1"] {
			return nil
		}
		compareEntry(t, path, path, restored+strings.TrimPrefix(path, fx.src.root))
		return nil
	}))
}

// TestRestoreOutOfOrder downloads packs in reverse, so blobs arrive before
// their files' earlier blobs. With recorded plaintext lengths (format 1.1)
// every blob is written where it belongs at once and each pack is fetched
// once, even without memory for waiting blobs. Without them (1.0), early
// blobs wait when there is memory, and otherwise are fetched again in a
// second round.
func TestRestoreOutOfOrder(t *testing.T) {
	fx := newFixture(t)
	packs := dataPacks(t, openRepo(t, fx.store))
	for _, tc := range []struct {
		name     string
		lengths  bool
		pending  int64
		refetch  bool
		permuted bool
	}{
		{"recorded lengths", true, 0, false, false},
		{"recorded lengths, random order", true, 0, false, true},
		{"1.0 waiting", false, maxPending, false, false},
		{"1.0 refetched", false, 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx.wrap = nil
			if !tc.lengths {
				fx.wrap = withoutLengths
			}
			defer func() { fx.wrap = nil }()
			target := t.TempDir()
			rng := rand.New(rand.NewPCG(5, 6))
			_, warnings, err := fx.restoreTo(t, Options{Target: target, Connections: 1}, func(rs *restorer) {
				rs.writer.pendingLimit = tc.pending
				rs.reorder = func(ps []*packPlan) []*packPlan {
					if tc.permuted {
						ps = shuffledBlobs(rng, ps)
					}
					slices.Reverse(ps)
					return ps
				}
			})
			if err != nil || len(warnings) > 0 {
				t.Fatalf("restore: %v, warnings %q", err, warnings)
			}
			compareTrees(t, fx.src.root, target+fx.src.root)
			checkSpecials(t, target+fx.src.root)
			gets := fx.store.reset()
			refetched := 0
			for name := range packs {
				if gets[name] > 1 {
					refetched++
				}
			}
			if !tc.permuted && tc.refetch != (refetched > 0) {
				t.Errorf("%d packs fetched more than once", refetched)
			}
		})
	}
}

// shuffledBlobs splits every pack plan into one plan per blob (one request
// each) in random order, so blobs arrive in any order at all.
func shuffledBlobs(rng *rand.Rand, packs []*packPlan) []*packPlan {
	var out []*packPlan
	for _, pp := range packs {
		for _, bp := range pp.blobs {
			out = append(out, &packPlan{id: pp.id, blobs: []*blobPlan{bp}})
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestRestoreCancel(t *testing.T) {
	fx := newFixture(t)
	r := openRepo(t, fx.store)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Restore(ctx, r, fx.snap, Options{Target: t.TempDir()})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled restore: %v", err)
	}

	// Cancelled while downloading: the third data pack read cancels.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	packs := dataPacks(t, r)
	gets := 0
	r = openRepo(t, &cancellingStore{countingStore: fx.store, packs: packs, after: 3, cancel: cancel, gets: &gets})
	_, err = Restore(ctx, r, fx.snap, Options{Target: t.TempDir(), Connections: 2})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("restore cancelled while downloading: %v", err)
	}
}

// cancellingStore cancels a context on the after-th Get of a data pack.
type cancellingStore struct {
	*countingStore
	packs  map[string]bool
	after  int
	cancel context.CancelFunc
	mu     sync.Mutex
	gets   *int
}

func (s *cancellingStore) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	s.mu.Lock()
	if s.packs[name] {
		if *s.gets++; *s.gets == s.after {
			s.cancel()
		}
	}
	s.mu.Unlock()
	return s.countingStore.Get(ctx, name, offset, length)
}

func TestRestoreMissingPack(t *testing.T) {
	fx := newFixture(t)
	r := openRepo(t, fx.store)
	node, err := snapshot.FindPath(context.Background(), r, fx.snap.Tree, fx.src.root+"/"+bigName)
	must(t, err)
	e, _ := r.Index().Lookup(node.Content[len(node.Content)/2])
	fx.fault.FailPrefix(fault.OpGet, repo.PackName(e.Pack), storage.ErrNotFound)

	target := t.TempDir()
	res, warnings, err := fx.restoreTo(t, Options{Target: target}, nil)
	if err == nil || !strings.Contains(err.Error(), repo.PackName(e.Pack)) || !strings.Contains(err.Error(), target+fx.src.root+"/"+bigName) {
		t.Fatalf("restore with a missing pack: %v", err)
	}
	if res.Errors == 0 || len(warnings) == 0 {
		t.Errorf("result %+v, warnings %q", res, warnings)
	}
	// Files with no blob in the missing pack are restored exactly.
	inPack := map[string]bool{}
	must(t, snapshot.Walk(context.Background(), r, fx.snap.Tree, func(path []byte, n *snapshot.Node) error {
		for _, id := range n.Content {
			if loc, _ := r.Index().Lookup(id); loc.Pack == e.Pack {
				inPack[string(path)] = true
			}
		}
		return nil
	}))
	restored := 0
	must(t, filepath.WalkDir(fx.src.root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || inPack[path] || strings.HasSuffix(path, "/hard2") && inPack[fx.src.root+"/hard1"] {
			return err
		}
		compareEntry(t, path, path, target+path)
		restored++
		return nil
	}))
	if restored < 10 {
		t.Errorf("only %d intact files to check", restored)
	}
}

// TestRestoreFailureClassified: a pack the storage fails to deliver is not
// called damage (the advice is to run the command again), a missing one
// sends the user to check, and bytes that fail their checks are damage.
func TestRestoreFailureClassified(t *testing.T) {
	for _, c := range []struct {
		name  string
		apply func(fx *fixture, pack string)
		want  string
	}{
		{"unreachable", func(fx *fixture, pack string) {
			fx.fault.FailPrefix(fault.OpGet, pack, fmt.Errorf("connection reset: %w", storage.ErrTransient))
		}, "the storage did not deliver"},
		{"missing", func(fx *fixture, pack string) { fx.fault.FailPrefix(fault.OpGet, pack, storage.ErrNotFound) }, "missing from the storage"},
		{"corrupt", func(fx *fixture, pack string) { fx.fault.Corrupt(pack, 100) }, "damaged files"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t)
			r := openRepo(t, fx.store)
			node, err := snapshot.FindPath(context.Background(), r, fx.snap.Tree, fx.src.root+"/"+bigName)
			must(t, err)
			e, _ := r.Index().Lookup(node.Content[0])
			c.apply(fx, repo.PackName(e.Pack))
			_, _, err = fx.restoreTo(t, Options{Target: t.TempDir()}, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("restore: %v; want it to say %q", err, c.want)
			}
			if c.name != "corrupt" && strings.Contains(err.Error(), "damaged files") {
				t.Errorf("a storage failure called damage: %v", err)
			}
		})
	}
}
