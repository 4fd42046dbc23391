package archiver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// *repo.Repository must satisfy Repo. The check lives in a test so that
// the package's own code names only the methods it uses.
var _ Repo = (*repo.Repository)(nil)

// newTestRepo returns a repository in a fresh memory store.
func newTestRepo(tb testing.TB) (*repo.Repository, *mem.Store) {
	tb.Helper()
	store := mem.New()
	r, err := repo.Init(context.Background(), store, []byte("test passphrase"), repo.InitOptions{KDF: crypto.TestKDF()})
	if err != nil {
		tb.Fatalf("init repository: %v", err)
	}
	tb.Cleanup(func() { r.Close() })
	return r, store
}

// backup runs a backup of paths with the test host name.
func backup(tb testing.TB, r Repo, opts Options) *Result {
	tb.Helper()
	if opts.Host == "" {
		opts.Host = "testhost"
	}
	res, err := Run(context.Background(), r, opts)
	if err != nil {
		tb.Fatalf("backup %v: %v", opts.Paths, err)
	}
	return res
}

// storedFile is a node read back from a snapshot with its content's hash.
type storedFile struct {
	node snapshot.Node
	sum  [32]byte
	size int
}

// readBack loads every node below dir (an absolute path in the snapshot)
// and the content of every file, keyed by path relative to dir.
func readBack(tb testing.TB, r *repo.Repository, snap *snapshot.Snapshot, dir string) map[string]storedFile {
	tb.Helper()
	ctx := context.Background()
	top, err := snapshot.FindPath(ctx, r, snap.Tree, dir)
	if err != nil {
		tb.Fatalf("find %s in snapshot: %v", dir, err)
	}
	out := map[string]storedFile{}
	err = snapshot.Walk(ctx, r, top.Subtree, func(path []byte, n *snapshot.Node) error {
		h := sha256.New()
		size := 0
		for _, id := range n.Content {
			data, err := r.LoadBlob(ctx, pack.DataBlob, id)
			if err != nil {
				return err
			}
			h.Write(data)
			size += len(data)
		}
		var sf storedFile
		sf.node, sf.size = *n, size
		copy(sf.sum[:], h.Sum(nil))
		out[strings.TrimPrefix(string(path), "/")] = sf
		return nil
	})
	if err != nil {
		tb.Fatalf("walk snapshot: %v", err)
	}
	return out
}

// writeFile writes data to dir/name, creating parent directories.
func writeFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// randomBytes returns n bytes from a seeded generator.
func randomBytes(seed uint64, n int) []byte {
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	buf := make([]byte, n)
	rng.Read(buf)
	return buf
}

func fileSum(tb testing.TB, path string) ([32]byte, int) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		tb.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, int(n)
}

// skippedPaths returns the paths of a snapshot's Skipped list.
func skippedPaths(s *snapshot.Snapshot) map[string]string {
	m := map[string]string{}
	for _, sk := range s.Skipped {
		m[sk.Path] = sk.Error
	}
	return m
}

// storeContains reports whether any stored object contains marker.
func storeContains(tb testing.TB, store *mem.Store, marker []byte) string {
	tb.Helper()
	ctx := context.Background()
	var names []string
	if err := store.List(ctx, "", func(oi storage.ObjectInfo) error {
		names = append(names, oi.Name)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	for _, name := range names {
		rc, err := store.Get(ctx, name, 0, -1)
		if err != nil {
			tb.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
		if bytes.Contains(data, marker) {
			return name
		}
	}
	return ""
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// testSize returns n, or an eighth of it under the race detector.
func testSize(n int) int {
	if raceEnabled {
		return n / 8
	}
	return n
}
