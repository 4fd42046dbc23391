package archiver

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// benchTreeSize is the size of the generated benchmark tree.
const benchTreeSize = 256 << 20

// makeBenchTree writes 256 MiB: 4096 small text-like files of 16 KiB in 64
// directories (compressible), 64 random files of 2 MiB and 4 random files
// of 16 MiB.
func makeBenchTree(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	text := []byte("The quick brown fox jumps over the lazy dog; cairn backs it up. ")
	for i := range 4096 {
		buf := make([]byte, 0, 16<<10)
		for len(buf) < 16<<10 {
			buf = fmt.Appendf(buf, "%d %s", i*31+len(buf), text)
		}
		writeFile(b, filepath.Join(dir, "small", fmt.Sprintf("d%02d", i%64), fmt.Sprintf("f%04d.txt", i)), buf[:16<<10])
	}
	for i := range 64 {
		writeFile(b, filepath.Join(dir, "medium", fmt.Sprintf("m%02d.bin", i)), randomBytes(uint64(1000+i), 2<<20))
	}
	for i := range 4 {
		writeFile(b, filepath.Join(dir, "large", fmt.Sprintf("l%d.bin", i)), randomBytes(uint64(2000+i), 16<<20))
	}
	return dir
}

// BenchmarkBackup measures an initial backup into a memory store.
func BenchmarkBackup(b *testing.B) {
	dir := makeBenchTree(b)
	b.SetBytes(benchTreeSize)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		r, _ := newTestRepo(b)
		b.StartTimer()
		backup(b, r, Options{Paths: []string{dir}})
	}
}

// BenchmarkBackupUnchanged measures a backup with nothing changed since
// its parent; SetBytes counts the tree's size, so MB/s is "scanned".
func BenchmarkBackupUnchanged(b *testing.B) {
	dir := makeBenchTree(b)
	time.Sleep(racyWindow + 100*time.Millisecond)
	r, _ := newTestRepo(b)
	backup(b, r, Options{Paths: []string{dir}})
	b.SetBytes(benchTreeSize)
	b.ResetTimer()
	for range b.N {
		res := backup(b, r, Options{Paths: []string{dir}})
		if res.Snapshot.Summary.BytesRead != 0 {
			b.Fatalf("unchanged backup read %d bytes", res.Snapshot.Summary.BytesRead)
		}
	}
}

// BenchmarkBackupDryRun measures the archiver without the Saver's
// compression, sealing and packing: walking, reading, chunking, hashing.
func BenchmarkBackupDryRun(b *testing.B) {
	dir := makeBenchTree(b)
	r, _ := newTestRepo(b)
	b.SetBytes(benchTreeSize)
	b.ResetTimer()
	for range b.N {
		backup(b, r, Options{Paths: []string{dir}, DryRun: true})
	}
}
