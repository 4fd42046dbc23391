package copy

import (
	"context"
	"slices"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

func TestTagChangeApply(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    TagChange
		in   []string
		want []string
	}{
		{"add", TagChange{Add: []string{"b", "a"}}, []string{"a"}, []string{"a", "b"}},
		{"remove", TagChange{Remove: []string{"a"}}, []string{"a", "b"}, []string{"b"}},
		{"set", TagChange{Set: []string{"x"}, SetGiven: true}, []string{"a"}, []string{"x"}},
		{"set nothing clears", TagChange{SetGiven: true}, []string{"a"}, nil},
		{"set then add and remove", TagChange{Set: []string{"x", "y"}, SetGiven: true, Add: []string{"z"}, Remove: []string{"y"}}, nil, []string{"x", "z"}},
		{"empty tags dropped", TagChange{Add: []string{""}}, nil, nil},
	} {
		if got := tc.c.Apply(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v gives %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestTagReplacesTheSnapshotAndRecordsTheOriginal(t *testing.T) {
	ctx := context.Background()
	f := repotest.NewFixture(t)
	a, b := backupTwo(f)
	r := f.Open()
	entries := snapshots(t, r)

	done, err := Retag(ctx, r, entries, TagChange{Add: []string{"keep"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 {
		t.Fatalf("retagged %d snapshots, want 2", len(done))
	}
	r = f.Open()
	after := snapshots(t, r)
	if len(after) != 2 {
		t.Fatalf("%d snapshots after tagging, want 2", len(after))
	}
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for i, old := range []crypto.ID{a, b} {
		e := after[i]
		if e.ID == old || e.Snapshot.Original != old || e.Snapshot.OriginalRepo != "" || !slices.Equal(e.Snapshot.Tags, []string{"keep"}) {
			t.Errorf("retagged %s: %s original %s tags %v", old.Short(), e.ID.Short(), e.Snapshot.Original.Short(), e.Snapshot.Tags)
		}
		if !slices.Equal(e.Snapshot.Tree, entries[i].Snapshot.Tree) || !e.Snapshot.Time.Equal(entries[i].Snapshot.Time) {
			t.Errorf("retagged %s changed its tree or time", old.Short())
		}
		f.Files[e.ID] = f.Files[old]
		f.Verify(r, e.ID) // restores what was backed up
	}
	// The old ones were forgotten on purpose: a record names them.
	fs, err := r.LoadForgotten(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []crypto.ID{a, b} {
		if _, ok := fs.Snapshots[old]; !ok {
			t.Errorf("no forgotten record names %s", old.Short())
		}
	}
	// Tagging again keeps the first original; no change writes nothing.
	again, err := Retag(ctx, r, after[:1], TagChange{Set: []string{"x"}, SetGiven: true})
	if err != nil {
		t.Fatal(err)
	}
	e, err := snapshot.Find(ctx, r, again[0].New.String(), snapshot.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Snapshot.Original != a {
		t.Errorf("second retag records %s, want the first snapshot %s", e.Snapshot.Original.Short(), a.Short())
	}
	none, err := Retag(ctx, r, []snapshot.Entry{e}, TagChange{Add: []string{"x"}})
	if err != nil || len(none) != 0 {
		t.Fatalf("a tag change that changes nothing: %v, %v", none, err)
	}
}

// Retagging in the source after a copy, or in the destination, does not
// make the snapshot copy again: its origin is the same.
func TestCopyAfterTaggingCopiesNothing(t *testing.T) {
	ctx := context.Background()
	f := repotest.NewFixture(t)
	backupTwo(f)
	d := newDest(t, f.Repo, true)
	if _, err := Copy(ctx, f.Open(), d.repo, Options{}); err != nil {
		t.Fatal(err)
	}
	src := f.Open()
	if _, err := Retag(ctx, src, snapshots(t, src), TagChange{Add: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	dst := d.open()
	if _, err := Retag(ctx, dst, snapshots(t, dst), TagChange{Add: []string{"d"}}); err != nil {
		t.Fatal(err)
	}
	res, err := Copy(ctx, f.Open(), d.open(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Copied) != 0 || len(res.Skipped) != 2 {
		t.Fatalf("copy after tagging: copied %d, skipped %d", len(res.Copied), len(res.Skipped))
	}
}
