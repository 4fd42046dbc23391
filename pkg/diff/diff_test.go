package diff

import (
	"context"
	"errors"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// entry describes one node of a test snapshot. Directories on the way to
// an entry are created with default metadata unless listed themselves.
type entry struct {
	path   string
	typ    snapshot.NodeType // default: file
	data   string
	mode   uint32
	mtime  int64
	target string
}

type node struct {
	snapshot.Node
	data     string
	children map[string]*node
}

func newRepo(t *testing.T) *repo.Repository {
	t.Helper()
	r, err := repo.Init(context.Background(), mem.New(), []byte("pw"), repo.InitOptions{KDF: crypto.TestKDF(), PackSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// build stores the entries as a snapshot (not saved as an object).
func build(t *testing.T, r *repo.Repository, when time.Time, entries ...entry) *snapshot.Snapshot {
	t.Helper()
	ctx := context.Background()
	root := &node{children: map[string]*node{}}
	for _, e := range entries {
		parts := strings.Split(strings.TrimPrefix(e.path, "/"), "/")
		d := root
		for _, name := range parts[:len(parts)-1] {
			if d.children[name] == nil {
				d.children[name] = &node{Node: snapshot.Node{Name: []byte(name), Type: snapshot.NodeDir, Mode: 0o755}, children: map[string]*node{}}
			}
			d = d.children[name]
		}
		name := parts[len(parts)-1]
		n := d.children[name]
		if n == nil {
			n = &node{children: map[string]*node{}}
			d.children[name] = n
		}
		typ := e.typ
		if typ == 0 {
			typ = snapshot.NodeFile
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		n.Node = snapshot.Node{Name: []byte(name), Type: typ, Mode: mode, MTime: e.mtime, LinkTarget: []byte(e.target)}
		n.data = e.data
	}
	saver := r.NewSaver(ctx, repo.SaverOptions{})
	tree, err := writeTree(ctx, saver, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := saver.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return &snapshot.Snapshot{Time: when, Tree: tree}
}

func writeTree(ctx context.Context, saver *repo.Saver, d *node) ([]crypto.ID, error) {
	var names []string
	for name := range d.children {
		names = append(names, name)
	}
	slices.Sort(names)
	tw := snapshot.NewTreeWriter(ctx, saver)
	for _, name := range names {
		c := d.children[name]
		n := c.Node
		switch n.Type {
		case snapshot.NodeDir:
			sub, err := writeTree(ctx, saver, c)
			if err != nil {
				return nil, err
			}
			n.Subtree = sub
		case snapshot.NodeFile:
			n.Size = uint64(len(c.data))
			if c.data != "" {
				id, err := saver.SaveBlob(ctx, pack.DataBlob, []byte(c.data))
				if err != nil {
					return nil, err
				}
				n.Content = []crypto.ID{id}
			}
		}
		if err := tw.Add(n); err != nil {
			return nil, err
		}
	}
	return tw.Close()
}

// loadCounter records the tree blobs loaded.
type loadCounter struct {
	*repo.Repository
	mu     sync.Mutex
	loaded []crypto.ID
}

func (l *loadCounter) LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error) {
	l.mu.Lock()
	l.loaded = append(l.loaded, id)
	l.mu.Unlock()
	return l.Repository.LoadBlob(ctx, t, id)
}

func collect(t *testing.T, r Repo, a, b *snapshot.Snapshot) []string {
	t.Helper()
	var out []string
	err := Diff(context.Background(), r, a, b, func(c Change) error {
		out = append(out, c.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func bigDir(n int) []entry {
	var out []entry
	for i := range n {
		out = append(out, entry{path: "/big/f" + string(rune('a'+i%26)) + string(rune('a'+i/26)), data: "x"})
	}
	return out
}

func TestDiff(t *testing.T) {
	r := newRepo(t)
	common := bigDir(40)
	a := build(t, r, t0, append(slices.Clone(common),
		entry{path: "/d/same", data: "same"},
		entry{path: "/d/mod", data: "v1"},
		entry{path: "/d/meta", data: "m", mode: 0o644},
		entry{path: "/d/touched", data: "t", mtime: 1},
		entry{path: "/d/gone", data: "bye"},
		entry{path: "/d/sub/x", data: "x"},
		entry{path: "/link", typ: snapshot.NodeSymlink, target: "t1"},
		entry{path: "/t", data: "was a file"},
	)...)
	b := build(t, r, t0.Add(time.Hour), append(slices.Clone(common),
		entry{path: "/d/same", data: "same"},
		entry{path: "/d/mod", data: "version 2"},
		entry{path: "/d/meta", data: "m", mode: 0o600},
		entry{path: "/d/touched", data: "t", mtime: 2},
		entry{path: "/d/new", data: "hi"},
		entry{path: "/d/newdir/y", data: "y"},
		entry{path: "/link", typ: snapshot.NodeSymlink, target: "t2"},
		entry{path: "/t/z", data: "z"},
	)...)

	lc := &loadCounter{Repository: r}
	got := collect(t, lc, a, b)
	want := []string{
		"- /d/gone",
		"U /d/meta (mode)",
		"M /d/mod (content)",
		"+ /d/new",
		"+ /d/newdir",
		"+ /d/newdir/y",
		"- /d/sub",
		"- /d/sub/x",
		"U /d/touched (mtime)",
		"M /link (target)",
		"M /t (type file → dir)",
		"+ /t/z",
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// /big is identical on both sides and must not be loaded.
	node, err := snapshot.FindPath(context.Background(), r, a.Tree, "/big")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range lc.loaded {
		if slices.Contains(node.Subtree, id) {
			t.Errorf("identical subtree /big was loaded")
		}
	}

	// Reversed, additions and removals swap.
	rev := collect(t, r, b, a)
	if !slices.Contains(rev, "+ /d/gone") || !slices.Contains(rev, "- /d/newdir/y") || !slices.Contains(rev, "M /t (type dir → file)") || !slices.Contains(rev, "- /t/z") {
		t.Errorf("reversed diff:\n%s", strings.Join(rev, "\n"))
	}
}

func TestDiffSizes(t *testing.T) {
	r := newRepo(t)
	a := build(t, r, t0, entry{path: "/f", data: "12345"}, entry{path: "/g", data: "abc"})
	b := build(t, r, t0, entry{path: "/f", data: "123"})
	var changes []Change
	if err := Diff(context.Background(), r, a, b, func(c Change) error {
		changes = append(changes, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 {
		t.Fatalf("changes %v", changes)
	}
	if c := changes[0]; c.Kind != Modified || c.OldSize != 5 || c.NewSize != 3 || c.Path != "/f" {
		t.Errorf("modified: %+v", c)
	}
	if c := changes[1]; c.Kind != Removed || c.OldSize != 3 || c.NewSize != 0 || c.OldType != snapshot.NodeFile {
		t.Errorf("removed: %+v", c)
	}
}

func TestDiffIdenticalLoadsNothing(t *testing.T) {
	r := newRepo(t)
	a := build(t, r, t0, bigDir(30)...)
	b := build(t, r, t0.Add(time.Hour), bigDir(30)...)
	lc := &loadCounter{Repository: r}
	if got := collect(t, lc, a, b); len(got) != 0 {
		t.Errorf("identical snapshots differ: %v", got)
	}
	if len(lc.loaded) != 0 {
		t.Errorf("%d tree loads for identical snapshots", len(lc.loaded))
	}
}

func TestDiffStopsOnCallbackError(t *testing.T) {
	r := newRepo(t)
	a := build(t, r, t0, entry{path: "/a", data: "1"})
	b := build(t, r, t0, entry{path: "/b", data: "2"}, entry{path: "/c", data: "3"})
	stop := errors.New("stop")
	calls := 0
	err := Diff(context.Background(), r, a, b, func(Change) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("Diff = %v after %d calls", err, calls)
	}
}

func TestFind(t *testing.T) {
	r := newRepo(t)
	s1 := build(t, r, t0,
		entry{path: "/home/alice/notes.txt", data: "1"},
		entry{path: "/home/alice/docs/a.pdf", data: "pdf"},
		entry{path: "/home/bob/notes.txt", data: "22"},
		entry{path: "/etc/hosts", data: "h"},
	)
	s2 := build(t, r, t0.Add(time.Hour),
		entry{path: "/home/alice/notes.txt", data: "1"},
		entry{path: "/home/alice/docs/b.pdf", data: "pdf2"},
		entry{path: "/srv/notes.txt", data: "333", mtime: 5e9},
	)
	snaps := []snapshot.Entry{{ID: crypto.ID{1}, Snapshot: s1}, {ID: crypto.ID{2}, Snapshot: s2}}

	find := func(pattern string) []string {
		t.Helper()
		var out []string
		err := Find(context.Background(), r, snaps, pattern, func(m Match) error {
			out = append(out, string('0'+rune(m.Snapshot[0]))+":"+m.Path)
			return nil
		})
		if err != nil {
			t.Fatalf("Find(%q): %v", pattern, err)
		}
		return out
	}
	tests := map[string][]string{
		"notes.txt":           {"1:/home/alice/notes.txt", "1:/home/bob/notes.txt", "2:/home/alice/notes.txt", "2:/srv/notes.txt"},
		"*.pdf":               {"1:/home/alice/docs/a.pdf", "2:/home/alice/docs/b.pdf"},
		"docs":                {"1:/home/alice/docs", "2:/home/alice/docs"},
		"/home/*/notes.txt":   {"1:/home/alice/notes.txt", "1:/home/bob/notes.txt", "2:/home/alice/notes.txt"},
		"home/alice/docs/?.*": {"1:/home/alice/docs/a.pdf", "2:/home/alice/docs/b.pdf"},
		"/etc":                {"1:/etc"},
		"nothing*":            nil,
	}
	for pattern, want := range tests {
		if got := find(pattern); !slices.Equal(got, want) {
			t.Errorf("Find(%q) = %v, want %v", pattern, got, want)
		}
	}

	var m Match
	if err := Find(context.Background(), r, snaps[1:], "/srv/notes.txt", func(x Match) error { m = x; return nil }); err != nil {
		t.Fatal(err)
	}
	if m.Size != 3 || m.Type != snapshot.NodeFile || !m.MTime.Equal(time.Unix(5, 0)) || !m.Time.Equal(t0.Add(time.Hour)) || m.Snapshot != (crypto.ID{2}) {
		t.Errorf("match %+v", m)
	}

	if err := Find(context.Background(), r, snaps, "[", func(Match) error { return nil }); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("bad pattern: %v", err)
	}
}
