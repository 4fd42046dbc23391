package snapshot

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// wideTree builds / with dirs d00..d(n-1), each holding a subdirectory
// "sub" with files, so that every directory level has work to prefetch;
// no two trees are the same.
func wideTree(t *testing.T, m *memBlobs, n int) []crypto.ID {
	t.Helper()
	var dirs []Node
	for i := range n {
		sub := writeDir(t, m, 1+i)
		d := writeDir(t, m, 0, Node{Name: []byte("sub"), Type: NodeDir, Subtree: sub},
			Node{Name: fmt.Appendf(nil, "g%02d", i), Type: NodeFile})
		dirs = append(dirs, Node{Name: fmt.Appendf(nil, "d%02d", i), Type: NodeDir, Subtree: d})
	}
	return writeDir(t, m, 0, dirs...)
}

// gateLoader holds each tree load until `want` loads are in flight at once
// (or a generous timeout passes), and records whether they ever were:
// only loads started ahead of the walk can make that happen.
type gateLoader struct {
	inner    BlobLoader
	want     int
	mu       sync.Mutex
	inflight int
	calls    int
	reached  bool
	wake     chan struct{}
}

func (g *gateLoader) LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error) {
	g.mu.Lock()
	g.calls++
	if g.calls == 1 { // the root: nothing to overlap with yet
		g.mu.Unlock()
		return g.inner.LoadBlob(ctx, t, id)
	}
	g.inflight++
	if g.inflight >= g.want && !g.reached {
		g.reached = true
		close(g.wake)
	}
	g.mu.Unlock()
	select {
	case <-g.wake:
	case <-time.After(2 * time.Second): // a walk that never overlaps loads
	}
	defer func() { g.mu.Lock(); g.inflight--; g.mu.Unlock() }()
	return g.inner.LoadBlob(ctx, t, id)
}

func walkPaths(t *testing.T, l BlobLoader, root []crypto.ID, skip bool) []string {
	t.Helper()
	var out []string
	err := Walk(context.Background(), l, root, func(p []byte, n *Node) error {
		out = append(out, string(p))
		if skip && n.Type == NodeDir {
			return SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPrefetcherWalk: a walk through a Prefetcher, one level ahead or
// deep, lists exactly what a plain walk does, loads each tree once,
// overlaps loads, and holds nothing when it is done.
func TestPrefetcherWalk(t *testing.T) {
	for _, deep := range []bool{false, true} {
		t.Run(fmt.Sprint("deep=", deep), func(t *testing.T) {
			m := newMemBlobs()
			root := wideTree(t, m, 30)
			plain := walkPaths(t, m, root, false)
			m.resetLoads()

			g := &gateLoader{inner: m, want: 4, wake: make(chan struct{})}
			p := NewPrefetcher(context.Background(), g, PrefetchOptions{Concurrency: 8, Deep: deep})
			got := walkPaths(t, p, root, false)
			p.Close()
			if !slices.Equal(got, plain) {
				t.Fatalf("prefetched walk differs:\n%v\nwant\n%v", got, plain)
			}
			if !g.reached {
				t.Error("no loads overlapped: nothing was prefetched")
			}
			if len(m.loads) != len(m.blobs) {
				t.Errorf("%d of %d trees loaded", len(m.loads), len(m.blobs))
			}
			for id, n := range m.loads {
				if n != 1 {
					t.Errorf("tree %s loaded %d times", id.Short(), n)
				}
			}
			if len(p.pending) != 0 || p.bytes != 0 {
				t.Errorf("after the walk %d trees (%d bytes) still held", len(p.pending), p.bytes)
			}
		})
	}
}

// TestPrefetcherRespectsWant: a walk that skips every directory, with a
// want function that says so, loads only the root; one without it loads
// the children it skipped (that is the cost want avoids) and releases
// them all.
func TestPrefetcherRespectsWant(t *testing.T) {
	m := newMemBlobs()
	root := wideTree(t, m, 10)
	m.resetLoads()
	p := NewPrefetcher(context.Background(), m, PrefetchOptions{Concurrency: 4, Want: func([]byte, *Node) bool { return false }})
	walkPaths(t, p, root, true)
	p.Close()
	if total := totalLoads(m); total != 1 {
		t.Errorf("%d tree loads for a walk that skips every directory, want 1", total)
	}

	p = NewPrefetcher(context.Background(), m, PrefetchOptions{Concurrency: 4})
	walkPaths(t, p, root, true)
	p.Close()
	if len(p.pending) != 0 || p.bytes != 0 {
		t.Errorf("skipped directories still held: %d trees", len(p.pending))
	}
}

func totalLoads(m *memBlobs) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int
	for _, c := range m.loads {
		n += c
	}
	return n
}

// TestPrefetcherErrorIsWalks: a tree that fails to load fails the walk
// with the walk's own error, through the prefetcher as without it.
func TestPrefetcherErrorIsWalks(t *testing.T) {
	m := newMemBlobs()
	root := wideTree(t, m, 5)
	nodes, _ := DecodeTree(m.blobs[root[0]])
	delete(m.blobs, nodes[3].Subtree[0])
	p := NewPrefetcher(context.Background(), m, PrefetchOptions{Concurrency: 4})
	defer p.Close()
	err := Walk(context.Background(), p, root, func([]byte, *Node) error { return nil })
	if err == nil {
		t.Fatal("walk over a missing tree succeeded")
	}
	want := Walk(context.Background(), m, root, func([]byte, *Node) error { return nil })
	if err.Error() != want.Error() {
		t.Errorf("error %q, want %q", err, want)
	}
}
