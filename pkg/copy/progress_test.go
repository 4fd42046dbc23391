package copy

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
)

// TestProgressReachesTotals: Progress counts snapshots up to the number
// selected, packs of each snapshot up to that snapshot's total, and bytes
// up to what the result says was read; a second run skips both snapshots
// and still reaches its total.
func TestProgressReachesTotals(t *testing.T) {
	for _, same := range []bool{true, false} {
		t.Run(map[bool]string{true: "blobs", false: "rechunk"}[same], func(t *testing.T) {
			f := repotest.NewFixture(t)
			backupTwo(f)
			d := newDest(t, f.Repo, same)
			var seen []Progress
			res, err := Copy(context.Background(), f.Open(), d.repo, Options{Connections: 2, Progress: func(p Progress) { seen = append(seen, p) }})
			if err != nil {
				t.Fatal(err)
			}
			packsSeen := false
			for i := 1; i < len(seen); i++ {
				prev, p := seen[i-1], seen[i]
				if p.TotalSnapshots != 2 || p.Snapshots < prev.Snapshots || p.Snapshots > prev.Snapshots+1 || p.Bytes < prev.Bytes {
					t.Fatalf("report %d: %+v after %+v", i, p, prev)
				}
				if p.Current == prev.Current && p.Current != (crypto.ID{}) && p.TotalPacks == prev.TotalPacks && p.Packs < prev.Packs {
					t.Fatalf("report %d: packs went back: %+v after %+v", i, p, prev)
				}
				if p.Packs > p.TotalPacks {
					t.Fatalf("report %d: %d of %d packs", i, p.Packs, p.TotalPacks)
				}
				if p.TotalPacks > 0 && p.Packs == p.TotalPacks {
					packsSeen = true
				}
			}
			last := seen[len(seen)-1]
			if last.Snapshots != 2 || last.Bytes != res.Total.BytesRead || last.Bytes == 0 {
				t.Fatalf("ended at %+v; the result read %d bytes", last, res.Total.BytesRead)
			}
			if same && !packsSeen {
				t.Error("no snapshot's packs were counted to their total")
			}

			seen = nil
			res, err = Copy(context.Background(), f.Open(), d.open(), Options{Progress: func(p Progress) { seen = append(seen, p) }})
			if err != nil || len(res.Skipped) != 2 {
				t.Fatalf("second copy: %+v, %v", res, err)
			}
			if last := seen[len(seen)-1]; last.Snapshots != 2 || last.TotalSnapshots != 2 || last.Bytes != 0 {
				t.Fatalf("a copy that skips both ended at %+v", last)
			}
		})
	}
}

// An interruption leaves the count at the snapshots finished.
func TestProgressStopsAtInterruption(t *testing.T) {
	f := repotest.NewFixture(t)
	backupTwo(f)
	d := newDest(t, f.Repo, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last Progress
	res, err := Copy(ctx, f.Open(), d.repo, Options{Connections: 1, Progress: func(p Progress) {
		last = p
		if p.Snapshots == 1 && p.Current != (crypto.ID{}) {
			cancel() // the second snapshot has started
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted copy: %v", err)
	}
	if len(res.Copied) != 1 || last.Snapshots != 1 {
		t.Fatalf("interrupted in the second snapshot: %d copied, progress %+v", len(res.Copied), last)
	}
}
