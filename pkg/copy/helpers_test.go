package copy

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// smallChunks gives several chunks per test-sized file.
func smallChunks() chunker.Params {
	return chunker.Params{Algorithm: chunker.Algorithm, MinSize: 2 << 10, AvgSize: 8 << 10, MaxSize: 32 << 10}
}

// dest is a destination repository in memory.
type dest struct {
	t     *testing.T
	store *mem.Store
	repo  *repo.Repository
}

// newDest initialises a destination with its own master secret: sharing
// the source's chunking (init --copy-chunker-params-from: its chunker
// parameters, chunker key and content-ID key) when same, else with other
// chunker parameters.
func newDest(t *testing.T, src *repo.Repository, same bool) *dest {
	t.Helper()
	store := mem.New()
	opts := repo.InitOptions{KDF: crypto.TestKDF(), PackSize: 8 << 10, Host: "dest"}
	if same {
		opts.ChunkerFrom = src
	} else {
		opts.Chunker = smallChunks()
	}
	r, err := repo.Init(context.Background(), store, []byte("other passphrase"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &dest{t: t, store: store, repo: r}
}

// open returns a fresh client of the destination.
func (d *dest) open() *repo.Repository {
	d.t.Helper()
	r, err := repo.Open(context.Background(), d.store, []byte("other passphrase"), repo.OpenOptions{Host: "dest"})
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { r.Close() })
	return r
}

func snapshots(t *testing.T, r *repo.Repository) []snapshot.Entry {
	t.Helper()
	all, err := snapshot.List(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// files of a source snapshot: shared content, and content of its own.
func files(seed uint64) map[string][]byte {
	return map[string][]byte{
		"/home/a/shared.bin": repotest.Content(1, 40<<10),
		"/home/a/own.bin":    repotest.Content(seed, 30<<10),
		"/home/b/small.txt":  []byte("hello"),
		"/home/b/empty":      {},
	}
}

// backupTwo makes two snapshots in the fixture's repository.
func backupTwo(f *repotest.Fixture) (crypto.ID, crypto.ID) {
	a := f.Backup(f.Repo, repotest.T0, files(10))
	b := f.Backup(f.Repo, repotest.T0.Add(time.Hour), files(11))
	return a, b
}

// sameTrees checks that the snapshot trees of src and dst hold the same
// entries with the same metadata, and (via the fixture) the same bytes.
func sameTrees(t *testing.T, f *repotest.Fixture, src *repo.Repository, srcID crypto.ID, dst *repo.Repository, dstID crypto.ID) {
	t.Helper()
	ctx := context.Background()
	load := func(r *repo.Repository, id crypto.ID) *snapshot.Snapshot {
		body, err := r.LoadObject(ctx, repo.KindSnapshot, id)
		if err != nil {
			t.Fatal(err)
		}
		s, err := snapshot.UnmarshalSnapshot(body)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := load(src, srcID), load(dst, dstID)
	type entry struct {
		path string
		node snapshot.Node
	}
	collect := func(r *repo.Repository, s *snapshot.Snapshot) []entry {
		var out []entry
		err := snapshot.Walk(ctx, r, s.Tree, func(p []byte, n *snapshot.Node) error {
			m := *n
			m.Content, m.Subtree = nil, nil
			out = append(out, entry{string(p), m})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ea, eb := collect(src, a), collect(dst, b)
	if len(ea) != len(eb) {
		t.Fatalf("copy has %d entries, source %d", len(eb), len(ea))
	}
	for i := range ea {
		x, y := ea[i], eb[i]
		if x.path != y.path || !bytes.Equal(snapshot.EncodeTree([]snapshot.Node{x.node}), snapshot.EncodeTree([]snapshot.Node{y.node})) {
			t.Errorf("entry %d: copy %s %+v, source %s %+v", i, y.path, y.node, x.path, x.node)
		}
	}
	if !a.Time.Equal(b.Time) || a.Host != b.Host || !slices.Equal(a.Paths, b.Paths) || !slices.Equal(a.Tags, b.Tags) {
		t.Errorf("copy's snapshot fields differ: %+v, source %+v", b, a)
	}
	f.Files[dstID] = f.Files[srcID]
	f.Verify(dst, dstID)
}

// damageBlob flips a byte inside the stored blob id of the fixture's
// repository, so it fails authentication. It returns the pack.
func damageBlob(t *testing.T, store storage.Store, r *repo.Repository, id crypto.ID) crypto.ID {
	t.Helper()
	e, ok := r.Index().Lookup(id)
	if !ok || e.Type != pack.DataBlob {
		t.Fatalf("blob %s not indexed as data", id.Short())
	}
	name := repo.PackName(e.Pack)
	rc, err := store.Get(context.Background(), name, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(rc)
	rc.Close()
	data := buf.Bytes()
	data[e.Offset+e.Length/2] ^= 0x55
	if err := store.(*mem.Store).Replace(name, data); err != nil {
		t.Fatal(err)
	}
	return e.Pack
}
