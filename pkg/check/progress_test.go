package check

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// TestReadProgressReachesTotal: ReadProgress counts packs and their bytes
// up, one pack at a time, to totals that are the selected packs' own.
func TestReadProgressReachesTotal(t *testing.T) {
	f := newFixture(t)
	twoSnapshots(f)
	r := f.Open()
	var stored int64
	packs := 0
	if err := r.ListPacks(f.Ctx, func(_ crypto.ID, size int64) error { stored += size; packs++; return nil }); err != nil {
		t.Fatal(err)
	}
	if packs < 2 {
		t.Fatalf("the fixture has %d packs; the test needs several", packs)
	}
	var seen []ReadProgress
	rep := mustCheck(t, r, Options{ReadData: true, Connections: 3, ReadProgress: func(p ReadProgress) { seen = append(seen, p) }})
	if len(seen) != packs+1 {
		t.Fatalf("%d progress calls for %d packs, want one at the start and one per pack", len(seen), packs)
	}
	for i, p := range seen {
		if p.TotalPacks != packs || p.TotalBytes != stored {
			t.Fatalf("call %d: totals %d packs, %d bytes; the repository has %d packs, %d bytes", i, p.TotalPacks, p.TotalBytes, packs, stored)
		}
		if p.Packs != i {
			t.Fatalf("call %d reports %d packs done", i, p.Packs)
		}
		if i > 0 && p.Bytes <= seen[i-1].Bytes {
			t.Fatalf("bytes went from %d to %d", seen[i-1].Bytes, p.Bytes)
		}
	}
	if last := seen[len(seen)-1]; last.Bytes != stored || rep.PacksRead != packs {
		t.Fatalf("ended at %d of %d bytes, %d packs read", last.Bytes, stored, rep.PacksRead)
	}

	// A subset's totals are the subset's.
	seen = nil
	mustCheck(t, f.Open(), Options{Subset: "1/2", ReadProgress: func(p ReadProgress) { seen = append(seen, p) }})
	if last := seen[len(seen)-1]; last.TotalPacks >= packs || last.Packs != last.TotalPacks || last.Bytes != last.TotalBytes {
		t.Fatalf("subset 1/2 of %d packs ended at %+v", packs, last)
	}

	// Without ReadData there is nothing to report.
	seen = nil
	mustCheck(t, f.Open(), Options{ReadProgress: func(p ReadProgress) { seen = append(seen, p) }})
	if len(seen) != 0 {
		t.Fatalf("a check without read data reported reading: %+v", seen)
	}
}

// TestReadDataInterrupted: a check cancelled while reading data returns
// the context's error, not a report that calls the unread packs damaged.
func TestReadDataInterrupted(t *testing.T) {
	f := newFixture(t)
	twoSnapshots(f)
	ctx, cancel := context.WithCancel(f.Ctx)
	defer cancel()
	_, err := Check(ctx, f.Open(), Options{ReadData: true, Connections: 1, ReadProgress: func(p ReadProgress) {
		if p.Packs == 1 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted check: %v, want context.Canceled", err)
	}
}
