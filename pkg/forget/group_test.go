package forget

import (
	"slices"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

func TestGroupBy(t *testing.T) {
	mk := func(n byte, host string, paths, tags []string) snapshot.Entry {
		return snapshot.Entry{ID: crypto.ID{n}, Snapshot: &snapshot.Snapshot{
			Time: time.Date(2021, 1, int(n)+1, 0, 0, 0, 0, time.UTC), Host: host, Paths: paths, Tags: tags}}
	}
	snaps := []snapshot.Entry{
		mk(0, "a", []string{"/x", "/y"}, nil),
		mk(1, "a", []string{"/y/", "/x"}, []string{"t"}), // same set of paths as 0
		mk(2, "b", []string{"/x", "/y"}, []string{"t"}),
		mk(3, "a", []string{"/z"}, nil),
	}
	tests := []struct {
		by   string
		want [][]byte // IDs per group, groups in key order
	}{
		{"host,paths", [][]byte{{0, 1}, {3}, {2}}},
		{DefaultGroupBy, [][]byte{{0, 1}, {3}, {2}}},
		{"host", [][]byte{{0, 1, 3}, {2}}},
		{"paths", [][]byte{{0, 1, 2}, {3}}},
		{"tags", [][]byte{{1, 2}, {0, 3}}},
		{"", [][]byte{{0, 1, 2, 3}}},
	}
	for _, tc := range tests {
		groups, err := GroupBy(snaps, tc.by)
		if err != nil {
			t.Fatalf("GroupBy(%q): %v", tc.by, err)
		}
		var got [][]byte
		for _, g := range groups {
			var ids []byte
			for _, e := range g.Snapshots {
				ids = append(ids, e.ID[0])
			}
			got = append(got, ids)
		}
		if !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("GroupBy(%q) = %v, want %v", tc.by, got, tc.want)
		}
	}

	groups, _ := GroupBy(snaps, "host,paths")
	if g := groups[0]; g.Host != "a" || !slices.Equal(g.Paths, []string{"/x", "/y"}) || g.Key != `host=a paths=["/x" "/y"]` {
		t.Errorf("first group = %+v", g)
	}
	if _, err := GroupBy(snaps, "host,colour"); err == nil {
		t.Error("GroupBy accepted an unknown field")
	}
}

// TestGroupsAreIndependent checks that a policy applies per group: each
// host keeps its own newest snapshot.
func TestGroupsAreIndependent(t *testing.T) {
	snaps := []snapshot.Entry{
		{ID: crypto.ID{0}, Snapshot: &snapshot.Snapshot{Time: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), Host: "a"}},
		{ID: crypto.ID{1}, Snapshot: &snapshot.Snapshot{Time: time.Date(2021, 1, 2, 0, 0, 0, 0, time.UTC), Host: "b"}},
		{ID: crypto.ID{2}, Snapshot: &snapshot.Snapshot{Time: time.Date(2021, 1, 3, 0, 0, 0, 0, time.UTC), Host: "b"}},
	}
	groups, err := GroupBy(snaps, "host")
	if err != nil {
		t.Fatal(err)
	}
	var kept []crypto.ID
	for _, g := range groups {
		ds, err := Apply(g.Snapshots, Policy{Last: 1}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, Kept(ds)...)
	}
	if !slices.Equal(kept, []crypto.ID{{0}, {2}}) {
		t.Errorf("kept %v, want the newest of each host", kept)
	}
}
