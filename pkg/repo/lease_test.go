package repo

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"

	"github.com/cairn-backup/cairn/pkg/pack"
)

func TestLease(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	condemned := crypto.ID{0xde, 0xad}
	marker, err := r.SaveDeletion(ctx, Deletion{Created: r.now(), Packs: []crypto.ID{condemned}})
	if err != nil {
		t.Fatal(err)
	}
	r.leaseRefresh = 20 * time.Millisecond

	l, err := r.StartLease(ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.SeenDeletions(); len(got) != 1 || got[0] != marker {
		t.Errorf("seen deletions %v", got)
	}
	if !r.Index().IsCondemned(condemned) {
		t.Error("pack of a seen marker not condemned")
	}
	leases, _ := r.ListObjects(ctx, KindLease)
	if len(leases) != 1 {
		t.Fatalf("leases %v", leases)
	}
	rec, err := r.LoadLease(ctx, leases[0])
	if err != nil || rec.Done || rec.Operation != "backup" || rec.Host != "testhost" || rec.PID == 0 || len(rec.Run) != 32 ||
		!slices.Equal(rec.SeenDeletions, []string{marker.String()}) {
		t.Errorf("lease %+v %v", rec, err)
	}

	// The refresher replaces the lease object.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ids, _ := r.ListObjects(ctx, KindLease)
		if len(ids) == 1 && ids[0] != leases[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease not refreshed: %v", ids)
		}
		time.Sleep(5 * time.Millisecond)
	}

	if l.Stale() {
		t.Error("fresh lease is stale")
	}
	late := crypto.ID{0xbe, 0xef}
	marker2, _ := r.SaveDeletion(ctx, Deletion{Created: r.now(), Packs: []crypto.ID{late}})
	if got, err := l.NewDeletions(ctx); err != nil || len(got) != 1 || got[0] != marker2 || !r.Index().IsCondemned(late) {
		t.Errorf("NewDeletions: %v %v", got, err)
	}
	l.mu.Lock()
	l.lastWrite = l.lastWrite.Add(-LeaseLifetime - time.Minute)
	l.mu.Unlock()
	if !l.Stale() {
		t.Error("lease without a write for the lifetime is not stale")
	}

	if err := l.Done(ctx); err != nil {
		t.Fatal(err)
	}
	// Credentials that may delete end the run by deleting its lease.
	if ids := names(t, store, "leases/"); len(ids) != 0 {
		t.Fatalf("leases after done: %v, want none", ids)
	}
	time.Sleep(60 * time.Millisecond)
	if got := names(t, store, "leases/"); len(got) != 0 {
		t.Errorf("lease written after Done: %v", got)
	}
}

func TestDeletionsCondemnOnLoadIndex(t *testing.T) {
	ctx := context.Background()
	store, r, id, packID := onePackRepo(t, []byte("soon condemned"))
	if _, err := r.SaveDeletion(ctx, Deletion{Created: r.now(), Packs: []crypto.ID{packID}}); err != nil {
		t.Fatal(err)
	}
	r2 := openTestRepo(t, store, OpenOptions{})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if r2.Index().Has(id) {
		t.Error("blob in a condemned pack counts for deduplication")
	}
	// Restore still reads it.
	if got, err := r2.LoadBlob(ctx, pack.DataBlob, id); err != nil || string(got) != "soon condemned" {
		t.Errorf("LoadBlob from a condemned pack: %q %v", got, err)
	}
	// A backup stores it again, in a new pack.
	s := r2.NewSaver(ctx, SaverOptions{})
	if added, err := s.SaveBlobID(ctx, pack.DataBlob, id, []byte("soon condemned")); err != nil || !added {
		t.Errorf("blob in a condemned pack not stored again: %v %v", added, err)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !r2.Index().Has(id) {
		t.Error("new copy not indexed")
	}
}

func TestDeletionJSON(t *testing.T) {
	d := Deletion{Created: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Packs: []crypto.ID{{1}}, SnapshotsSeen: []crypto.ID{{2}}}
	b, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"created":"2026-01-02T03:04:05.000000006Z","packs":["01` + zeros(62) + `"],"snapshots_seen":["02` + zeros(62) + `"]}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
	var back Deletion
	if err := back.UnmarshalJSON(b); err != nil || !back.Created.Equal(d.Created) || back.Packs[0] != d.Packs[0] || back.SnapshotsSeen[0] != d.SnapshotsSeen[0] {
		t.Errorf("round trip %+v %v", back, err)
	}
	if err := back.UnmarshalJSON([]byte(`{"packs":["xyz"]}`)); err == nil {
		t.Error("bad pack ID accepted")
	}
}

func zeros(n int) string { return strings.Repeat("0", n) }
