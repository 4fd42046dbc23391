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
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/local"
)

// BenchmarkRestoreVsRestic restores the same tree with restic and with
// cairn, both from a local repository, and reports cairn's wall time as a
// ratio of restic's (the target is <= 0.5). The tree is the comparison
// workload: a big file (CAIRN_COMPARE_BIG_MIB, default 1024), 50,000 small
// files (CAIRN_COMPARE_SMALL) and a copy of the Go source tree (left out
// with CAIRN_COMPARE_GOSRC=0). It needs a
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
	var resticCPU, cairnCPU time.Duration
	run := func(args ...string) time.Duration {
		cmd := exec.Command(restic, args...)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("restic %v: %v\n%s", args, err, out)
		}
		resticCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return time.Since(start)
	}
	run("init", "--quiet")
	run("backup", "--quiet", root)
	resticCPU = 0

	store, err := local.New(filepath.Join(dir, "cairn-repo"))
	must(b, err)
	testRepo(b, store, chunker.Params{}, 0)
	snap := backup(b, store, root)

	b.SetBytes(size)
	b.ResetTimer()
	var resticTime, cairnTime time.Duration
	for i := range b.N {
		// Alternate who goes first. Restored trees are only removed at the
		// end: ext4 without a journal skips recently deleted inodes one by
		// one when allocating, so creating files right after a big delete
		// costs several times more, whoever does it.
		resticTarget := filepath.Join(dir, fmt.Sprintf("restic%d", i))
		if i%2 == 0 {
			resticTime += restoreRestic(b, run, resticTarget)
		}
		wall, cpu := restoreCairn(b, store, snap, filepath.Join(dir, fmt.Sprintf("cairn%d", i)))
		cairnTime += wall
		cairnCPU += cpu
		if i%2 == 1 {
			resticTime += restoreRestic(b, run, resticTarget)
		}
	}
	b.ReportMetric(cairnTime.Seconds()/resticTime.Seconds(), "cairn/restic")
	b.ReportMetric(resticTime.Seconds()/float64(b.N), "restic-s/op")
	b.ReportMetric(cairnTime.Seconds()/float64(b.N), "cairn-s/op")
	b.ReportMetric(resticCPU.Seconds()/float64(b.N), "restic-cpu-s/op")
	b.ReportMetric(cairnCPU.Seconds()/float64(b.N), "cairn-cpu-s/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func restoreRestic(b *testing.B, run func(...string) time.Duration, target string) time.Duration {
	settle(b)
	return run("restore", "--quiet", "latest", "--target", target)
}

// restoreCairn restores snap to target with a freshly opened repository (a
// cold start, as the CLI has) and returns the wall and CPU time taken.
func restoreCairn(b *testing.B, store storage.Store, snap *snapshot.Snapshot, target string) (wall, cpu time.Duration) {
	b.StopTimer()
	r := openRepo(b, store)
	settle(b)
	b.StartTimer()
	start, startCPU := time.Now(), cpuTime()
	if _, err := Restore(context.Background(), r, snap, Options{Target: target}); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), cpuTime() - startCPU
}

// settle writes back dirty pages (the setup's and the previous restore's)
// with the timer stopped, so that no restore pays for another's writeback.
func settle(b *testing.B) {
	b.StopTimer()
	syscall.Sync()
	b.StartTimer()
}

// compareTree writes the comparison workload below root and returns its
// content size.
func compareTree(b *testing.B, root string, bigSize, smallFiles int) int64 {
	rng := rand.New(rand.NewPCG(5, 6))
	f, err := os.Create(filepath.Join(mkdirAll(b, root), "big.img"))
	must(b, err)
	for written := 0; written < bigSize; written += 1 << 20 {
		_, err := f.Write(randomBytes(rng, min(1<<20, bigSize-written))) // incompressible, like media or VM images
		must(b, err)
	}
	must(b, f.Close())
	size := int64(bigSize)
	for i := range smallFiles {
		data := randomBytes(rng, 1+rng.IntN(8<<10))
		writeFile(b, filepath.Join(root, "small", fmt.Sprintf("d%03d/f%05d", i%500, i)), data, 0o644)
		size += int64(len(data))
	}
	if os.Getenv("CAIRN_COMPARE_GOSRC") == "0" {
		return size
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
