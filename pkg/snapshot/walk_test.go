package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// memBlobs is an in-memory BlobSaver and BlobLoader that counts loads.
type memBlobs struct {
	mu      sync.Mutex
	blobs   map[crypto.ID][]byte
	loads   map[crypto.ID]int
	saves   int
	failAt  int // fail the n-th save (1-based); 0 never
	failErr error
}

func newMemBlobs() *memBlobs {
	return &memBlobs{blobs: map[crypto.ID][]byte{}, loads: map[crypto.ID]int{}}
}

func (m *memBlobs) SaveBlob(ctx context.Context, typ pack.BlobType, data []byte) (crypto.ID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	if m.saves == m.failAt {
		return crypto.ID{}, m.failErr
	}
	if typ != pack.TreeBlob {
		return crypto.ID{}, fmt.Errorf("saved a %v blob", typ)
	}
	id := crypto.ID(sha256.Sum256(data))
	m.blobs[id] = data // kept as is: TreeWriter promises not to reuse it
	return id, nil
}

func (m *memBlobs) LoadBlob(ctx context.Context, typ pack.BlobType, id crypto.ID) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if typ != pack.TreeBlob {
		return nil, fmt.Errorf("loaded a %v blob", typ)
	}
	b, ok := m.blobs[id]
	if !ok {
		return nil, fmt.Errorf("blob %s: not found", id.Short())
	}
	m.loads[id]++
	return bytes.Clone(b), nil
}

func (m *memBlobs) resetLoads() { m.loads = map[crypto.ID]int{} }

func fileName(i int) []byte { return fmt.Appendf(nil, "f%06d", i) }

// writeDir writes a directory of n files plus the given extra nodes.
func writeDir(t *testing.T, m *memBlobs, n int, extra ...Node) []crypto.ID {
	t.Helper()
	nodes := slices.Clone(extra)
	for i := range n {
		nodes = append(nodes, Node{Name: fileName(i), Type: NodeFile, Size: uint64(i), Content: []crypto.ID{testID(byte(i))}})
	}
	sortNodes(nodes)
	w := NewTreeWriter(context.Background(), m)
	for _, nd := range nodes {
		if err := w.Add(nd); err != nil {
			t.Fatalf("Add(%q): %v", nd.Name, err)
		}
	}
	ids, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestTreeWriterSplits(t *testing.T) {
	for _, tt := range []struct{ entries, runs int }{
		{0, 1}, {1, 1}, {MaxTreeEntries - 1, 1}, {MaxTreeEntries, 1},
		{MaxTreeEntries + 1, 2}, {2*MaxTreeEntries + 5, 3},
	} {
		t.Run(fmt.Sprint(tt.entries), func(t *testing.T) {
			m := newMemBlobs()
			ids := writeDir(t, m, tt.entries)
			if len(ids) != tt.runs {
				t.Fatalf("%d runs, want %d", len(ids), tt.runs)
			}
			for i, id := range ids {
				nodes, err := DecodeTree(m.blobs[id])
				if err != nil {
					t.Fatal(err)
				}
				want := min(MaxTreeEntries, tt.entries-i*MaxTreeEntries)
				if len(nodes) != want {
					t.Fatalf("run %d has %d entries, want %d", i, len(nodes), want)
				}
			}
			var got int
			err := WalkDir(context.Background(), m, ids, func(n *Node) error {
				if !bytes.Equal(n.Name, fileName(got)) || n.Size != uint64(got) {
					return fmt.Errorf("entry %d is %q", got, n.Name)
				}
				got++
				return nil
			})
			if err != nil || got != tt.entries {
				t.Fatalf("WalkDir: %d entries, %v", got, err)
			}
		})
	}
}

func TestTreeWriterEmptyDirIsVersionByte(t *testing.T) {
	m := newMemBlobs()
	ids := writeDir(t, m, 0)
	if !bytes.Equal(m.blobs[ids[0]], []byte{treeVersion}) {
		t.Fatalf("empty directory blob = %x", m.blobs[ids[0]])
	}
}

func TestTreeWriterRejects(t *testing.T) {
	ctx := context.Background()
	w := NewTreeWriter(ctx, newMemBlobs())
	if err := w.Add(Node{Name: []byte("b"), Type: NodeFile}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []Node{
		{Name: []byte("a"), Type: NodeFile},
		{Name: []byte("b"), Type: NodeFile},
		{Name: []byte("c/d"), Type: NodeFile},
		{Name: []byte("c"), Type: 9},
		{Name: []byte("c"), Type: NodeFile, Mode: 0o100644},
	} {
		if err := w.Add(n); err == nil {
			t.Errorf("Add accepted %+v", n)
		}
	}
	// Rejected nodes leave the writer usable.
	if err := w.Add(Node{Name: []byte("c"), Type: NodeFile}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if err := w.Add(Node{Name: []byte("d"), Type: NodeFile}); err == nil {
		t.Error("Add after Close succeeded")
	}
}

func TestTreeWriterSaveErrorSticks(t *testing.T) {
	boom := errors.New("boom")
	m := newMemBlobs()
	m.failAt, m.failErr = 1, boom
	w := NewTreeWriter(context.Background(), m)
	var err error
	for i := 0; i < MaxTreeEntries && err == nil; i++ {
		err = w.Add(Node{Name: fileName(i), Type: NodeFile})
	}
	if !errors.Is(err, boom) {
		t.Fatalf("Add error = %v", err)
	}
	if err := w.Add(Node{Name: []byte("z"), Type: NodeFile}); !errors.Is(err, boom) {
		t.Fatalf("later Add error = %v", err)
	}
	if _, err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close error = %v", err)
	}
}

// testTree is / with /etc/{hosts,passwd}, /home/alice/{big (many
// entries), notes, z} and /home/bob (empty).
type testTree struct {
	m       *memBlobs
	root    []crypto.ID
	bigRuns []crypto.ID
	bigSize int
}

func buildTestTree(t *testing.T) *testTree {
	m := newMemBlobs()
	bigSize := 2*MaxTreeEntries + 3
	big := writeDir(t, m, bigSize)
	alice := writeDir(t, m, 0,
		Node{Name: []byte("big"), Type: NodeDir, Subtree: big},
		Node{Name: []byte("notes"), Type: NodeFile, Size: 3},
		Node{Name: []byte("z"), Type: NodeSymlink, LinkTarget: []byte("notes")},
	)
	bob := writeDir(t, m, 0)
	home := writeDir(t, m, 0,
		Node{Name: []byte("alice"), Type: NodeDir, Subtree: alice},
		Node{Name: []byte("bob"), Type: NodeDir, Subtree: bob},
	)
	etc := writeDir(t, m, 0,
		Node{Name: []byte("hosts"), Type: NodeFile},
		Node{Name: []byte("passwd"), Type: NodeFile},
	)
	root := writeDir(t, m, 0,
		Node{Name: []byte("etc"), Type: NodeDir, Subtree: etc},
		Node{Name: []byte("home"), Type: NodeDir, Subtree: home},
	)
	return &testTree{m: m, root: root, bigRuns: big, bigSize: bigSize}
}

func TestWalk(t *testing.T) {
	tt := buildTestTree(t)
	var paths []string
	err := Walk(context.Background(), tt.m, tt.root, func(path []byte, n *Node) error {
		paths = append(paths, string(path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc", "/etc/hosts", "/etc/passwd", "/home", "/home/alice", "/home/alice/big"}
	for i := range tt.bigSize {
		want = append(want, "/home/alice/big/"+string(fileName(i)))
	}
	want = append(want, "/home/alice/notes", "/home/alice/z", "/home/bob")
	if !slices.Equal(paths, want) {
		t.Fatalf("Walk visited %d paths, want %d; first %q", len(paths), len(want), paths[:min(8, len(paths))])
	}
	for id, n := range tt.m.loads {
		if n != 1 {
			t.Errorf("tree %s loaded %d times", id.Short(), n)
		}
	}
}

func TestWalkSkipDir(t *testing.T) {
	tt := buildTestTree(t)
	var paths []string
	err := Walk(context.Background(), tt.m, tt.root, func(path []byte, n *Node) error {
		paths = append(paths, string(path))
		switch string(path) {
		case "/home/alice/big":
			return SkipDir // skips the directory's contents
		case "/etc/hosts":
			return SkipDir // skips the rest of /etc
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc", "/etc/hosts", "/home", "/home/alice", "/home/alice/big", "/home/alice/notes", "/home/alice/z", "/home/bob"}
	if !slices.Equal(paths, want) {
		t.Fatalf("visited %q", paths)
	}
	for _, id := range tt.bigRuns {
		if tt.m.loads[id] != 0 {
			t.Errorf("skipped directory's tree %s was loaded", id.Short())
		}
	}
}

func TestWalkErrors(t *testing.T) {
	tt := buildTestTree(t)
	ctx := context.Background()
	stop := errors.New("stop here")
	err := Walk(ctx, tt.m, tt.root, func(path []byte, n *Node) error {
		if string(path) == "/home/alice/big/f008200" {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("Walk returned %v, want the callback's error unwrapped", err)
	}

	delete(tt.m.blobs, tt.bigRuns[1])
	err = Walk(ctx, tt.m, tt.root, func([]byte, *Node) error { return nil })
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("/home/alice/big")) {
		t.Fatalf("missing tree: error %v does not name the directory", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Walk(cctx, tt.m, tt.root, func([]byte, *Node) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled walk returned %v", err)
	}
}

func TestWalkDirRejectsRunsOutOfOrder(t *testing.T) {
	m := newMemBlobs()
	first := writeDir(t, m, 0, Node{Name: []byte("b"), Type: NodeFile})
	second := writeDir(t, m, 0, Node{Name: []byte("a"), Type: NodeFile})
	err := WalkDir(context.Background(), m, append(first, second...), func(*Node) error { return nil })
	if !errors.Is(err, ErrCorruptTree) {
		t.Fatalf("WalkDir over unsorted runs: %v", err)
	}
	// Readers accept any split, including empty runs in between.
	empty := writeDir(t, m, 0)
	var names []string
	err = WalkDir(context.Background(), m, slices.Concat(second, empty, first), func(n *Node) error {
		names = append(names, string(n.Name))
		return nil
	})
	if err != nil || !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("WalkDir = %q, %v", names, err)
	}
}

func TestFindPath(t *testing.T) {
	tt := buildTestTree(t)
	ctx := context.Background()
	tt.m.resetLoads()
	n, err := FindPath(ctx, tt.m, tt.root, "/home/alice/big/"+string(fileName(MaxTreeEntries+10)))
	if err != nil {
		t.Fatal(err)
	}
	if n.Size != MaxTreeEntries+10 {
		t.Fatalf("found %+v", n)
	}
	// Root, home, alice and the first two runs of big; not etc, bob or
	// the third run.
	if len(tt.m.loads) != 5 || tt.m.loads[tt.bigRuns[2]] != 0 {
		t.Fatalf("FindPath loaded %d trees (third run: %d)", len(tt.m.loads), tt.m.loads[tt.bigRuns[2]])
	}

	for _, p := range []string{"home/alice/notes", "/home//alice/./notes", "/home/alice/notes/"} {
		if n, err := FindPath(ctx, tt.m, tt.root, p); err != nil || string(n.Name) != "notes" {
			t.Errorf("FindPath(%q) = %v, %v", p, n, err)
		}
	}
	if n, err := FindPath(ctx, tt.m, tt.root, "/home/alice/z"); err != nil || string(n.LinkTarget) != "notes" {
		t.Errorf("FindPath(symlink) = %v, %v", n, err)
	}
	n, err = FindPath(ctx, tt.m, tt.root, "/")
	if err != nil || n.Type != NodeDir || !slices.Equal(n.Subtree, tt.root) {
		t.Errorf("FindPath(/) = %+v, %v", n, err)
	}
	for _, p := range []string{"/nope", "/home/carol", "/home/alice/notes/x", "/home/alice/big/zzz", "/home/alice/big/f", "/home/../etc"} {
		if _, err := FindPath(ctx, tt.m, tt.root, p); !errors.Is(err, ErrPathNotFound) {
			t.Errorf("FindPath(%q) error = %v, want ErrPathNotFound", p, err)
		}
	}
}
