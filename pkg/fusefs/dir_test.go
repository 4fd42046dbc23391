package fusefs

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// TestMountMillionEntries lists a directory of a million entries (123 tree
// runs) with a tree cache that holds about one run, and looks names up in
// it: every entry comes once, in order, the cache stays within its bound,
// and a lookup finds names in any run and misses absent ones.
func TestMountMillionEntries(t *testing.T) {
	const entries = 1_000_000
	r, _ := testRepo(t)
	ctx := context.Background()
	saver := r.NewSaver(ctx, repo.SaverOptions{})
	w := snapshot.NewTreeWriter(ctx, saver)
	for i := range entries {
		if err := w.Add(snapshot.Node{Name: fmt.Appendf(nil, "e%07d", i), Type: snapshot.NodeFile, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := saver.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(runs) < 100 {
		t.Fatalf("%d runs; the test wants many", len(runs))
	}

	const budget = 4 << 20
	fsys := newFS(ctx, r, Options{TreeCacheSize: budget})
	d := &dirNode{entry: entry{fsys: fsys, path: "/big", node: &snapshot.Node{Type: snapshot.NodeDir, Subtree: runs}}}
	s, errno := d.Readdir(ctx)
	if errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	var prev []byte
	for s.HasNext() {
		e, errno := s.Next()
		if errno != 0 {
			t.Fatalf("entry %d: %v", n, errno)
		}
		if name := []byte(e.Name); prev != nil && bytes.Compare(prev, name) >= 0 {
			t.Fatalf("entry %d: %q after %q", n, name, prev)
		} else {
			prev = name
		}
		n++
		if n%100_000 == 0 && fsys.trees.decoded.Size() > budget {
			t.Fatalf("after %d entries the tree cache holds %d bytes, bound %d", n, fsys.trees.decoded.Size(), budget)
		}
	}
	s.Close()
	if n != entries {
		t.Fatalf("listed %d entries, want %d", n, entries)
	}
	for _, i := range []int{0, 8191, 8192, 500_000, entries - 1} {
		name := fmt.Sprintf("e%07d", i)
		got, err := d.find(ctx, []byte(name))
		if err != nil || got == nil || string(got.Name) != name {
			t.Errorf("find %s: %v, %v", name, got, err)
		}
	}
	for _, name := range []string{"a", "e0008191x", "e1000000", "f"} {
		if got, err := d.find(ctx, []byte(name)); err != nil || got != nil {
			t.Errorf("find %s (absent): %v, %v", name, got, err)
		}
	}
}
