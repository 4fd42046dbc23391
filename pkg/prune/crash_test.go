package prune

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/check"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
)

// TestCrashAtEveryStep interrupts prune at every write and every delete it
// makes, in turn: the call fails either before reaching the store or after
// taking effect (a lost response). After each interruption the repository
// must be consistent (every snapshot restores, check passes), and one more
// prune must finish the work: no marker left, the forgotten data gone.
func TestCrashAtEveryStep(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if testing.Short() {
		seeds = seeds[:1]
	}
	// Reads of packs fail too: header reads, the reads that prove a copy
	// before another is deleted, and the reads that copy blobs out of a
	// pack before it is condemned.
	modes := []struct {
		op     fault.Op
		after  bool
		prefix string
	}{
		{fault.OpPut, false, ""}, {fault.OpPut, true, ""},
		{fault.OpDelete, false, ""}, {fault.OpDelete, true, ""},
		{fault.OpGet, false, "data/"}, {fault.OpStat, false, "data/"},
	}
	opts := Options{RepackThreshold: 0.9}
	for _, seed := range seeds {
		base := newFixture(t)
		// The seed varies contents and sizes, so pack boundaries differ.
		size := func(n int) int { return n + int(seed)*700 }
		forgotten := repotest.Content(seed*100+1, size(4300))
		b, c := repotest.Content(seed*100+2, size(8000)), repotest.Content(seed*100+3, size(2300))
		s1 := base.Backup(base.Repo, repotest.T0, map[string][]byte{"/a": forgotten, "/b": b, "/c": c})
		base.Backup(base.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": b, "/d": repotest.Content(seed*100+4, size(4000))})
		e := repotest.Content(seed*100+5, size(1000))
		base.Backup(base.Repo, repotest.T0.Add(2*time.Hour), map[string][]byte{"/c": c, "/e": e})
		// A client that did not load the index stores /e again: its blob
		// is duplicated, so prune must prove one copy before it deletes
		// the other.
		base.Backup(base.Open(), repotest.T0.Add(3*time.Hour), map[string][]byte{"/e": e})
		base.forget(s1)

		for _, m := range modes {
			steps := 0
			for n := 1; ; n++ {
				name := fmt.Sprintf("seed %d: %s %s%d (after %v)", seed, m.op, m.prefix, n, m.after)
				fs := fault.New(cloneStore(t, base.Store))
				counted := &countingStore{Store: fs, op: m.op, prefix: m.prefix}
				f := base.on(counted)
				f.T = t
				r := f.Open()
				counted.calls.Store(0)
				fs.Add(fault.Rule{Op: m.op, Prefix: m.prefix, Nth: n, AfterInner: m.after})
				full, err := Prune(f.Ctx, r, opts)
				if int(counted.calls.Load()) < n {
					// The prune made fewer calls: every step was covered.
					if err != nil {
						t.Fatalf("%s: prune without a fault: %v", name, err)
					}
					// The steps covered include proving a copy before
					// deleting another, and copying blobs out.
					if full.BlobsVerified == 0 || full.BlobsRepacked == 0 {
						t.Errorf("%s: the scenario verified %d copies and repacked %d blobs; it should do both", name, full.BlobsVerified, full.BlobsRepacked)
					}
					break
				}
				steps++
				fs.Clear()

				// Consistent right after the interruption.
				f.verifyAll()
				rep, cerr := check.Check(f.Ctx, f.Open(), check.Options{})
				if cerr != nil || !rep.OK() {
					t.Fatalf("%s (prune error: %v): check after the crash: %v\n%s", name, err, cerr, strings.Join(rep.Errors, "\n"))
				}

				// The next prune completes the work. A crash that left the
				// crashed run's lease unfinished (its start or its end
				// failed) makes the marker wait until that lease expires.
				stats := mustPrune(t, f.Open(), opts)
				if stats.MarkersPending > 0 {
					if !f.unfinishedLease() {
						t.Fatalf("%s: rerun left %d markers waiting without a live lease", name, stats.MarkersPending)
					}
					expired := opts
					expired.LeaseTTL = time.Nanosecond
					stats = mustPrune(t, f.Open(), expired)
				}
				if ms := f.markers(); len(ms) != 0 {
					t.Fatalf("%s: %d markers left after the rerun (%+v)", name, len(ms), stats)
				}
				f.assertGone(forgotten)
				f.verifyAll()
				f.checkOK()
				if again := mustPrune(t, f.Open(), opts); again.PacksCondemned != 0 {
					t.Fatalf("%s: a third prune still condemns %d packs", name, again.PacksCondemned)
				}
			}
			if steps < 3 {
				t.Errorf("seed %d: only %d %s steps interrupted", seed, steps, m.op)
			}
			t.Logf("seed %d: %s interrupted at %d steps (after inner: %v)", seed, m.op, steps, m.after)
		}
	}
}

// countingStore counts the calls of one operation on names with a prefix,
// as the fault store's rule with that prefix matches them.
type countingStore struct {
	storage.Store
	op     fault.Op
	prefix string
	calls  atomic.Int64
}

func (s *countingStore) count(op fault.Op, name string) {
	if op == s.op && strings.HasPrefix(name, s.prefix) {
		s.calls.Add(1)
	}
}

func (s *countingStore) Put(ctx context.Context, name string, data []byte) error {
	s.count(fault.OpPut, name)
	return s.Store.Put(ctx, name, data)
}

func (s *countingStore) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	s.count(fault.OpGet, name)
	return s.Store.Get(ctx, name, offset, length)
}

func (s *countingStore) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	s.count(fault.OpStat, name)
	return s.Store.Stat(ctx, name)
}

func (s *countingStore) Delete(ctx context.Context, name string) error {
	s.count(fault.OpDelete, name)
	return s.Store.Delete(ctx, name)
}

// unfinishedLease reports whether a lease without "done" exists.
func (f *fixture) unfinishedLease() bool {
	f.T.Helper()
	r := f.Open()
	ids, err := r.ListObjects(f.Ctx, repo.KindLease)
	if err != nil {
		f.T.Fatal(err)
	}
	done := make(map[string]bool)
	for _, id := range ids {
		rec, err := r.LoadLease(f.Ctx, id)
		if err != nil {
			f.T.Fatal(err)
		}
		done[rec.Run] = done[rec.Run] || rec.Done
	}
	for _, d := range done {
		if !d {
			return true
		}
	}
	return false
}
