package restorer

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/fsmeta"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

var _ Repo = (*repo.Repository)(nil)

var testPassphrase = []byte("correct horse")

// smallChunks gives many chunks (and, with small packs, many packs) from
// test-sized files, so multi-blob and multi-pack files are the norm.
func smallChunks() chunker.Params {
	return chunker.Params{Algorithm: chunker.Algorithm, MinSize: 16 << 10, AvgSize: 64 << 10, MaxSize: 256 << 10}
}

// testRepo initialises a repository in store with the given chunker and
// pack size (zero values: defaults).
func testRepo(t testing.TB, store storage.Store, params chunker.Params, packSize int) {
	t.Helper()
	r, err := repo.Init(context.Background(), store, testPassphrase,
		repo.InitOptions{KDF: crypto.TestKDF(), Chunker: params, PackSize: packSize})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// openRepo opens the repository in store and loads its index, as the CLI
// does before a restore.
func openRepo(t testing.TB, store storage.Store) *repo.Repository {
	t.Helper()
	ctx := context.Background()
	r, err := repo.Open(ctx, store, testPassphrase, repo.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// backup stores the directory tree at src as a snapshot with the single
// path src, the way the archiver lays it out (the root mirrors absolute
// paths), and returns the snapshot as loaded back.
func backup(t testing.TB, store storage.Store, src string) *snapshot.Snapshot {
	t.Helper()
	ctx := context.Background()
	r := openRepo(t, store)
	saver := r.NewSaver(ctx, repo.SaverOptions{})
	b := &backuper{ctx: ctx, saver: saver, keys: r.Keys()}
	var err error
	if b.chunker, err = chunker.New(r.Config().Chunker, r.Keys().ChunkerKey(), nil); err != nil {
		t.Fatal(err)
	}
	src = filepath.Clean(src)
	node, err := b.node(src)
	if err != nil {
		t.Fatal(err)
	}
	// Wrap the tree in its ancestors, innermost first.
	for dir := filepath.Dir(src); ; dir = filepath.Dir(dir) {
		tw := snapshot.NewTreeWriter(ctx, saver)
		if err := tw.Add(node); err != nil {
			t.Fatal(err)
		}
		ids, err := tw.Close()
		if err != nil {
			t.Fatal(err)
		}
		if dir == "/" {
			if _, err := saver.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			snap := &snapshot.Snapshot{Time: time.Now(), Host: "test", Paths: []string{src}, Tree: ids}
			id, err := snapshot.Save(ctx, r, snap)
			if err != nil {
				t.Fatal(err)
			}
			entry, err := snapshot.Find(ctx, r, id.String(), snapshot.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			return entry.Snapshot
		}
		if node, err = fsmeta.Lstat(dir, nil); err != nil {
			t.Fatal(err)
		}
		node.Subtree = ids
	}
}

type backuper struct {
	ctx     context.Context
	saver   *repo.Saver
	keys    *crypto.Keys
	chunker *chunker.Chunker
}

// node reads one entry, storing a file's content or a directory's tree.
func (b *backuper) node(path string) (snapshot.Node, error) {
	n, err := fsmeta.Lstat(path, nil)
	if err != nil {
		return n, err
	}
	if n.Xattrs, err = fsmeta.ReadXattrs(path); err != nil {
		return n, err
	}
	switch n.Type {
	case snapshot.NodeDir:
		n.Subtree, err = b.dir(path)
	case snapshot.NodeFile:
		n.Content, n.Sparse, err = b.content(path)
	}
	return n, err
}

func (b *backuper) dir(path string) ([]crypto.ID, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(x, y os.DirEntry) int { return strings.Compare(x.Name(), y.Name()) })
	tw := snapshot.NewTreeWriter(b.ctx, b.saver)
	for _, e := range entries {
		n, err := b.node(filepath.Join(path, e.Name()))
		if err != nil {
			return nil, err
		}
		if err := tw.Add(n); err != nil {
			return nil, err
		}
	}
	return tw.Close()
}

func (b *backuper) content(path string) ([]crypto.ID, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, false, err
	}
	sparse := st.Blocks*512 < st.Size
	b.chunker.Reset(f)
	var ids []crypto.ID
	for {
		chunk, err := b.chunker.Next()
		if err == io.EOF {
			return ids, sparse, nil
		}
		if err != nil {
			return nil, false, err
		}
		id, err := b.saver.SaveBlob(b.ctx, pack.DataBlob, chunk)
		if err != nil {
			return nil, false, err
		}
		ids = append(ids, id)
	}
}

// countingStore counts Gets per object name.
type countingStore struct {
	storage.Store
	mu    sync.Mutex
	gets  map[string]int
	bytes int64 // asked for by ranged Gets
}

func newCountingStore(inner storage.Store) *countingStore {
	return &countingStore{Store: inner, gets: make(map[string]int)}
}

func (s *countingStore) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	s.mu.Lock()
	s.gets[name]++
	if length > 0 {
		s.bytes += length
	}
	s.mu.Unlock()
	return s.Store.Get(ctx, name, offset, length)
}

// resetBytes returns the bytes ranged Gets asked for since the last call.
func (s *countingStore) resetBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.bytes
	s.bytes = 0
	return n
}

func (s *countingStore) reset() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.gets
	s.gets = make(map[string]int)
	return old
}

// dataPacks returns the names of the packs holding data blobs.
func dataPacks(t testing.TB, r *repo.Repository) map[string]bool {
	t.Helper()
	packs := make(map[string]bool)
	err := r.Index().Each(func(e index.Entry) error {
		if e.Type == pack.DataBlob {
			packs[repo.PackName(e.Pack)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return packs
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func isNotSupported(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EPERM)
}

func newMemStore() storage.Store { return mem.New() }
