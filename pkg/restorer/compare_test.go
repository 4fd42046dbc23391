package restorer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/storage/local"
)

// BenchmarkRestoreVsRestic restores the same tree with restic and with
// cairn, both from a local repository, and reports cairn's wall time as a
// ratio of restic's (the target is <= 0.5). The tree is the comparison
// workload: a big file (CAIRN_COMPARE_BIG_MIB, default 1024), 50,000 small
// files (CAIRN_COMPARE_SMALL) and a copy of the Go source tree. It needs a
// restic binary in CAIRN_RESTIC and skips without one.
func BenchmarkRestoreVsRestic(b *testing.B) {
	restic := os.Getenv("CAIRN_RESTIC")
	if restic == "" {
		b.Skip("set CAIRN_RESTIC to a restic binary to compare with restic")
	}
	dir := b.TempDir()
	root := filepath.Join(dir, "tree")
	size := compareTree(b, root, envInt("CAIRN_COMPARE_BIG_MIB", 1024)<<20, envInt("CAIRN_COMPARE_SMALL", 50_000))

	resticRepo := filepath.Join(dir, "restic-repo")
	env := append(os.Environ(), "RESTIC_REPOSITORY="+resticRepo, "RESTIC_PASSWORD=bench",
		"RESTIC_CACHE_DIR="+filepath.Join(dir, "restic-cache"))
	run := func(args ...string) time.Duration {
		cmd := exec.Command(restic, args...)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("restic %v: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}
	run("init", "--quiet")
	run("backup", "--quiet", root)

	store, err := local.New(filepath.Join(dir, "cairn-repo"))
	must(b, err)
	testRepo(b, store, chunker.Params{}, 0)
	snap := backup(b, store, root)

	b.SetBytes(size)
	b.ResetTimer()
	var resticTime, cairnTime time.Duration
	for i := range b.N {
		target := filepath.Join(dir, fmt.Sprintf("restic%d", i))
		resticTime += run("restore", "--quiet", "latest", "--target", target)
		b.StopTimer()
		must(b, os.RemoveAll(target))
		r := openRepo(b, store) // a cold start, as the CLI has
		b.StartTimer()

		target = filepath.Join(dir, fmt.Sprintf("cairn%d", i))
		start := time.Now()
		if _, err := Restore(context.Background(), r, snap, Options{Target: target}); err != nil {
			b.Fatal(err)
		}
		cairnTime += time.Since(start)
		b.StopTimer()
		must(b, os.RemoveAll(target))
		b.StartTimer()
	}
	b.ReportMetric(cairnTime.Seconds()/resticTime.Seconds(), "cairn/restic")
	b.ReportMetric(resticTime.Seconds()/float64(b.N), "restic-s/op")
	b.ReportMetric(cairnTime.Seconds()/float64(b.N), "cairn-s/op")
}

// compareTree writes the comparison workload below root and returns its
// content size.
func compareTree(b *testing.B, root string, bigSize, smallFiles int) int64 {
	rng := rand.New(rand.NewPCG(5, 6))
	f, err := os.Create(filepath.Join(mkdirAll(b, root), "big.img"))
	must(b, err)
	chunk := randomBytes(rng, 1<<20)
	for written := 0; written < bigSize; written += len(chunk) {
		chunk[rng.IntN(len(chunk))]++ // every MiB differs
		_, err := f.Write(chunk[:min(len(chunk), bigSize-written)])
		must(b, err)
	}
	must(b, f.Close())
	size := int64(bigSize)
	for i := range smallFiles {
		data := randomBytes(rng, 1+rng.IntN(8<<10))
		writeFile(b, filepath.Join(root, "small", fmt.Sprintf("d%03d/f%05d", i%500, i)), data, 0o644)
		size += int64(len(data))
	}
	goSrc := filepath.Join(runtime.GOROOT(), "src")
	if out, err := exec.Command("cp", "-a", goSrc, filepath.Join(root, "gosrc")).CombinedOutput(); err != nil {
		b.Fatalf("copy %s: %v\n%s", goSrc, err, out)
	}
	must(b, filepath.Walk(filepath.Join(root, "gosrc"), func(path string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
		}
		return err
	}))
	return size
}

func mkdirAll(b *testing.B, dir string) string {
	must(b, os.MkdirAll(dir, 0o755))
	return dir
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
