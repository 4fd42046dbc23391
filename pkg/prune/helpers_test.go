package prune

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

const passphrase = "correct horse"

// chunkSize splits file content into blobs; with 4 KiB packs, a pack holds
// two or three of them.
const chunkSize = 1500

// fixture is a repository in memory with helpers to back up synthetic
// files and read them back.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	store storage.Store
	repo  *repo.Repository
	// files records what each snapshot holds, path → content.
	files map[crypto.ID]map[string][]byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	store := mem.New()
	r, err := repo.Init(ctx, store, []byte(passphrase), repo.InitOptions{KDF: crypto.TestKDF(), PackSize: 4 << 10, Host: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &fixture{t: t, ctx: ctx, store: store, repo: r, files: make(map[crypto.ID]map[string][]byte)}
}

// open returns a fresh client of the repository, as a later run would.
func (f *fixture) open() *repo.Repository {
	f.t.Helper()
	r, err := repo.Open(f.ctx, f.store, []byte(passphrase), repo.OpenOptions{Host: "test"})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { r.Close() })
	return r
}

// content returns size deterministic, incompressible bytes.
func content(seed uint64, size int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]byte, size)
	for i := range out {
		out[i] = byte(rng.Uint32())
	}
	return out
}

// dir is a directory being built for a snapshot.
type dir struct {
	files map[string][]byte
	dirs  map[string]*dir
}

func newDir() *dir { return &dir{files: map[string][]byte{}, dirs: map[string]*dir{}} }

// backup stores files (absolute path → content) as a snapshot taken at
// when, with client r.
func (f *fixture) backup(r *repo.Repository, when time.Time, files map[string][]byte) crypto.ID {
	f.t.Helper()
	return f.commit(r, when, files, f.storeFiles(r, files))
}

// storeFiles uploads the files' blobs and trees, as the first part of a
// backup, and returns the root tree.
func (f *fixture) storeFiles(r *repo.Repository, files map[string][]byte) []crypto.ID {
	f.t.Helper()
	root := newDir()
	for p, data := range files {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		d := root
		for _, name := range parts[:len(parts)-1] {
			if d.dirs[name] == nil {
				d.dirs[name] = newDir()
			}
			d = d.dirs[name]
		}
		d.files[parts[len(parts)-1]] = data
	}
	saver := r.NewSaver(f.ctx, repo.SaverOptions{})
	tree, err := writeDir(f.ctx, saver, root)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := saver.Flush(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	return tree
}

// commit writes the snapshot of a backup whose blobs are stored.
func (f *fixture) commit(r *repo.Repository, when time.Time, files map[string][]byte, tree []crypto.ID) crypto.ID {
	f.t.Helper()
	id, err := snapshot.Save(f.ctx, r, &snapshot.Snapshot{Time: when, Host: "test", Paths: []string{"/"}, Tree: tree})
	if err != nil {
		f.t.Fatal(err)
	}
	f.files[id] = files
	return id
}

func writeDir(ctx context.Context, saver *repo.Saver, d *dir) ([]crypto.ID, error) {
	var names []string
	for n := range d.files {
		names = append(names, n)
	}
	for n := range d.dirs {
		names = append(names, n)
	}
	slices.Sort(names)
	tw := snapshot.NewTreeWriter(ctx, saver)
	for _, name := range names {
		n := snapshot.Node{Name: []byte(name), MTime: 1e18}
		if data, ok := d.files[name]; ok {
			n.Type, n.Mode, n.Size = snapshot.NodeFile, 0o644, uint64(len(data))
			for off := 0; off < len(data); off += chunkSize {
				id, err := saver.SaveBlob(ctx, pack.DataBlob, data[off:min(off+chunkSize, len(data))])
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, id)
			}
		} else {
			sub, err := writeDir(ctx, saver, d.dirs[name])
			if err != nil {
				return nil, err
			}
			n.Type, n.Mode, n.Subtree = snapshot.NodeDir, 0o755, sub
		}
		if err := tw.Add(n); err != nil {
			return nil, err
		}
	}
	return tw.Close()
}

// verify restores every file of snapshot id with client r and compares it
// with what was backed up.
func (f *fixture) verify(r *repo.Repository, id crypto.ID) {
	f.t.Helper()
	body, err := r.LoadObject(f.ctx, repo.KindSnapshot, id)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := snapshot.UnmarshalSnapshot(body)
	if err != nil {
		f.t.Fatal(err)
	}
	seen := 0
	err = snapshot.Walk(f.ctx, r, s.Tree, func(path []byte, n *snapshot.Node) error {
		if n.Type != snapshot.NodeFile {
			return nil
		}
		var got []byte
		for _, b := range n.Content {
			data, err := r.LoadBlob(f.ctx, pack.DataBlob, b)
			if err != nil {
				return err
			}
			got = append(got, data...)
		}
		if want, ok := f.files[id][string(path)]; !ok || !bytes.Equal(got, want) {
			f.t.Errorf("snapshot %s: %s restores %d bytes that differ from the %d backed up", id.Short(), path, len(got), len(want))
		}
		seen++
		return nil
	})
	if err != nil {
		f.t.Fatalf("snapshot %s: %v", id.Short(), err)
	}
	if seen != len(f.files[id]) {
		f.t.Errorf("snapshot %s: %d files, want %d", id.Short(), seen, len(f.files[id]))
	}
}

// packsOf returns the packs that hold the blobs of path in snapshot id.
func (f *fixture) packsOf(r *repo.Repository, id crypto.ID, path string) []crypto.ID {
	f.t.Helper()
	data := f.files[id][path]
	keys := r.Keys()
	var out []crypto.ID
	for off := 0; off < len(data); off += chunkSize {
		blob := keys.BlobID(data[off:min(off+chunkSize, len(data))])
		e, ok := r.Index().Lookup(blob)
		if !ok {
			f.t.Fatalf("%s: blob %s not in the index", path, blob.Short())
		}
		if !slices.Contains(out, e.Pack) {
			out = append(out, e.Pack)
		}
	}
	return out
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// on returns a fixture for the same repository content in another store.
func (f *fixture) on(store storage.Store) *fixture {
	g := *f
	g.store = store
	g.repo = g.open()
	return &g
}

// cloneStore copies every object of src into a new memory store.
func cloneStore(t *testing.T, src storage.Store) *mem.Store {
	t.Helper()
	ctx := context.Background()
	dst := mem.New()
	err := src.List(ctx, "", func(oi storage.ObjectInfo) error {
		data, err := storage.ReadAll(ctx, src, oi.Name)
		if err != nil {
			return err
		}
		return dst.Put(ctx, oi.Name, data)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// objectNames lists every object name in the store.
func objectNames(t *testing.T, s storage.Store) []string {
	t.Helper()
	var out []string
	if err := s.List(context.Background(), "", func(oi storage.ObjectInfo) error {
		out = append(out, oi.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
