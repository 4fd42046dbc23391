package fusefs

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/cairn-backup/cairn/pkg/archiver"
	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

var testPassphrase = []byte("correct horse")

// smallChunks gives files of a few MiB dozens of blobs.
func smallChunks() chunker.Params {
	return chunker.Params{Algorithm: chunker.Algorithm, MinSize: 16 << 10, AvgSize: 64 << 10, MaxSize: 256 << 10}
}

// testRepo returns a repository (in memory) with small chunks and packs,
// its index loaded.
func testRepo(t testing.TB) (*repo.Repository, storage.Store) {
	t.Helper()
	store := mem.New()
	r, err := repo.Init(context.Background(), store, testPassphrase,
		repo.InitOptions{KDF: crypto.TestKDF(), Chunker: smallChunks(), PackSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	return openRepo(t, store), store
}

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

// randomFile writes size random bytes to path and returns them.
func randomFile(t testing.TB, path string, seed uint64, size int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// backupDir backs src up with the archiver and returns the snapshot.
func backupDir(t testing.TB, r *repo.Repository, src string, tags ...string) *snapshot.Snapshot {
	t.Helper()
	res, err := archiver.Run(context.Background(), r, archiver.Options{Paths: []string{src}, Host: "test", Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped > 0 {
		t.Fatalf("archiver skipped %d entries: %+v", res.Skipped, res.Snapshot.Skipped)
	}
	return res.Snapshot
}

// countingLoader counts the data blobs loaded.
type countingLoader struct {
	blobLoader
	loads atomic.Int64
}

func (c *countingLoader) LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error) {
	if t == pack.DataBlob {
		c.loads.Add(1)
	}
	return c.blobLoader.LoadBlob(ctx, t, id)
}

// indexLens are the plaintext lengths r's index records.
func indexLens(r *repo.Repository) plainLens {
	return func(id crypto.ID) uint32 {
		e, _ := r.Index().Lookup(id)
		return e.PlainLen
	}
}
