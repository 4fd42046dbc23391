package repotest

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

// Passphrase opens every fixture repository.
const Passphrase = "correct horse"

// ChunkSize splits file content into blobs; with 4 KiB packs, a pack holds
// two or three of them.
const ChunkSize = 1500

// T0 is a fixed time to take snapshots at.
var T0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// Fixture is a repository in memory with helpers to back up synthetic
// files and read them back.
type Fixture struct {
	T     *testing.T
	Ctx   context.Context
	Store storage.Store
	Repo  *repo.Repository
	// Files records what each snapshot holds, path → content.
	Files map[crypto.ID]map[string][]byte
}

// NewFixture initialises a repository with 4 KiB packs in a memory store.
func NewFixture(t *testing.T) *Fixture {
	t.Helper()
	ctx := context.Background()
	store := mem.New()
	r, err := repo.Init(ctx, store, []byte(Passphrase), repo.InitOptions{KDF: crypto.TestKDF(), PackSize: 4 << 10, Host: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &Fixture{T: t, Ctx: ctx, Store: store, Repo: r, Files: make(map[crypto.ID]map[string][]byte)}
}

// Open returns a fresh client of the repository, as a later run would.
func (f *Fixture) Open() *repo.Repository {
	f.T.Helper()
	r, err := repo.Open(f.Ctx, f.Store, []byte(Passphrase), repo.OpenOptions{Host: "test"})
	if err != nil {
		f.T.Fatal(err)
	}
	f.T.Cleanup(func() { r.Close() })
	return r
}

// Content returns size deterministic, incompressible bytes.
func Content(seed uint64, size int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]byte, size)
	for i := range out {
		out[i] = byte(rng.Uint32())
	}
	return out
}

// Backup stores files (absolute path → content) as a snapshot taken at
// when, with client r.
func (f *Fixture) Backup(r *repo.Repository, when time.Time, files map[string][]byte) crypto.ID {
	f.T.Helper()
	return f.Commit(r, when, files, f.StoreFiles(r, files))
}

// StoreFiles uploads the files' blobs and trees, as the first part of a
// backup, and returns the root tree.
func (f *Fixture) StoreFiles(r *repo.Repository, files map[string][]byte) []crypto.ID {
	f.T.Helper()
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
	saver := r.NewSaver(f.Ctx, repo.SaverOptions{})
	tree, err := writeDir(f.Ctx, saver, root)
	if err != nil {
		f.T.Fatal(err)
	}
	if _, err := saver.Flush(f.Ctx); err != nil {
		f.T.Fatal(err)
	}
	return tree
}

// Commit writes the snapshot of a backup whose blobs are stored.
func (f *Fixture) Commit(r *repo.Repository, when time.Time, files map[string][]byte, tree []crypto.ID) crypto.ID {
	f.T.Helper()
	id, err := snapshot.Save(f.Ctx, r, &snapshot.Snapshot{Time: when, Host: "test", Paths: []string{"/"}, Tree: tree})
	if err != nil {
		f.T.Fatal(err)
	}
	f.Files[id] = files
	return id
}

// dir is a directory being built for a snapshot.
type dir struct {
	files map[string][]byte
	dirs  map[string]*dir
}

func newDir() *dir { return &dir{files: map[string][]byte{}, dirs: map[string]*dir{}} }

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
			for off := 0; off < len(data); off += ChunkSize {
				id, err := saver.SaveBlob(ctx, pack.DataBlob, data[off:min(off+ChunkSize, len(data))])
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

// Verify restores every file of snapshot id with client r and compares it
// with what was backed up.
func (f *Fixture) Verify(r *repo.Repository, id crypto.ID) {
	f.T.Helper()
	body, err := r.LoadObject(f.Ctx, repo.KindSnapshot, id)
	if err != nil {
		f.T.Fatal(err)
	}
	s, err := snapshot.UnmarshalSnapshot(body)
	if err != nil {
		f.T.Fatal(err)
	}
	seen := 0
	err = snapshot.Walk(f.Ctx, r, s.Tree, func(path []byte, n *snapshot.Node) error {
		if n.Type != snapshot.NodeFile {
			return nil
		}
		var got []byte
		for _, b := range n.Content {
			data, err := r.LoadBlob(f.Ctx, pack.DataBlob, b)
			if err != nil {
				return err
			}
			got = append(got, data...)
		}
		if want, ok := f.Files[id][string(path)]; !ok || !bytes.Equal(got, want) {
			f.T.Errorf("snapshot %s: %s restores %d bytes that differ from the %d backed up", id.Short(), path, len(got), len(want))
		}
		seen++
		return nil
	})
	if err != nil {
		f.T.Fatalf("snapshot %s: %v", id.Short(), err)
	}
	if seen != len(f.Files[id]) {
		f.T.Errorf("snapshot %s: %d files, want %d", id.Short(), seen, len(f.Files[id]))
	}
}

// PacksOf returns the packs that hold the blobs of path in snapshot id.
func (f *Fixture) PacksOf(r *repo.Repository, id crypto.ID, path string) []crypto.ID {
	f.T.Helper()
	data := f.Files[id][path]
	keys := r.Keys()
	var out []crypto.ID
	for off := 0; off < len(data); off += ChunkSize {
		blob := keys.BlobID(data[off:min(off+ChunkSize, len(data))])
		e, ok := r.Index().Lookup(blob)
		if !ok {
			f.T.Fatalf("%s: blob %s not in the index", path, blob.Short())
		}
		if !slices.Contains(out, e.Pack) {
			out = append(out, e.Pack)
		}
	}
	return out
}
