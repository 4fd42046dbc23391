package restorer

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/pkg/chunker"
)

// benchTree writes a 256 MiB tree shaped like the restic comparison: one
// big file (half random, half compressible) of bigSize bytes and small
// files in nested directories for the rest.
func benchTree(b *testing.B, dir string, bigSize int) (root string, size int64) {
	rng := rand.New(rand.NewPCG(3, 4))
	root = filepath.Join(dir, "bench")
	big := append(randomBytes(rng, bigSize/2), bytes.Repeat([]byte("compressible log line 0123456789\n"), bigSize/2/33)...)
	writeFile(b, filepath.Join(root, "big.img"), big, 0o644)
	size = int64(len(big))
	for i := 0; size < 256<<20-64<<10; i++ {
		n := 1 + rng.IntN(64<<10)
		data := randomBytes(rng, n)
		if i%2 == 0 {
			data = bytes.Repeat(data[:min(n, 100)], n/min(n, 100)+1)[:n]
		}
		writeFile(b, filepath.Join(root, fmt.Sprintf("d%02d/s%02d/f%05d", i%37, i%11, i)), data, 0o644)
		size += int64(n)
	}
	return root, size
}

// BenchmarkRestore restores 256 MiB trees from an in-memory repository
// with the default chunker and pack size into a temporary directory: one
// big file, and a 128 MiB file plus about 4000 small files.
func BenchmarkRestore(b *testing.B) {
	b.Run("bigfile", func(b *testing.B) { benchmarkRestore(b, 256<<20) })
	b.Run("mixed", func(b *testing.B) { benchmarkRestore(b, 128<<20) })
}

func benchmarkRestore(b *testing.B, bigSize int) {
	dir := b.TempDir()
	root, size := benchTree(b, dir, bigSize)
	store := newCountingStore(newMemStore())
	testRepo(b, store, chunker.Params{}, 0)
	snap := backup(b, store, root)
	r := openRepo(b, store)
	ctx := context.Background()
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		target := filepath.Join(dir, fmt.Sprintf("restore%d", i))
		res, err := Restore(ctx, r, snap, Options{Target: target})
		if err != nil {
			b.Fatal(err)
		}
		if int64(res.Bytes) != size {
			b.Fatalf("restored %d bytes, want %d", res.Bytes, size)
		}
		b.StopTimer()
		must(b, os.RemoveAll(target))
		b.StartTimer()
	}
}
