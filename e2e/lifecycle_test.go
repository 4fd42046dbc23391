package e2e

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/e2e/miniotest"
)

// TestLocalCorruptPack flips one byte in one pack: plain check passes (it
// does not read data), check --read-data fails naming the pack and the
// affected file, and files that do not depend on that pack still restore.
func TestLocalCorruptPack(t *testing.T) {
	bin := cairnBin(t)
	repo := filepath.Join(t.TempDir(), "repo")
	c := newClient(t, bin, repo, "pw")
	c.ok("init", "--pack-size", "1M")
	src := t.TempDir()
	rnd := rand.NewChaCha8([32]byte{42})
	for i := range 6 {
		data := make([]byte, 1536<<10)
		_, _ = rnd.Read(data)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("file%d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.ok("backup", src)
	var packs []string
	_ = filepath.WalkDir(filepath.Join(repo, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			packs = append(packs, p)
		}
		return nil
	})
	sort.Strings(packs)
	if len(packs) < 3 {
		t.Fatalf("want several packs, got %d", len(packs))
	}
	// Corrupt a byte in the middle of the largest pack (a data pack).
	victim := packs[0]
	for _, p := range packs {
		a, _ := os.Stat(p)
		b, _ := os.Stat(victim)
		if a.Size() > b.Size() {
			victim = p
		}
	}
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x01
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("check")
	r := c.run("check", "--read-data")
	out := r.stdout + r.stderr
	if r.code == 0 {
		t.Fatalf("check --read-data passed on a corrupted pack:\n%s", out)
	}
	if !strings.Contains(out, filepath.Base(victim)[:8]) {
		t.Fatalf("check --read-data does not name pack %s:\n%s", filepath.Base(victim), out)
	}
	var damaged, intact []string
	for i := range 6 {
		f := filepath.Join(src, fmt.Sprintf("file%d", i))
		if strings.Contains(out, f) {
			damaged = append(damaged, f)
		} else {
			intact = append(intact, f)
		}
	}
	if len(damaged) == 0 || len(intact) == 0 {
		t.Fatalf("check should name some but not all files as damaged; damaged %v\n%s", damaged, out)
	}
	target := t.TempDir()
	args := []string{"restore", "latest", "--target", target}
	for _, f := range intact {
		args = append(args, "--include", f)
	}
	c.ok(args...)
	for _, f := range intact {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(target, f))
		if err != nil || string(got) != string(want) {
			t.Fatalf("intact file %s did not restore exactly: %v", f, err)
		}
	}
	if r := c.run("restore", "latest", "--target", t.TempDir(), "--include", damaged[0]); r.code == 0 {
		t.Fatalf("restoring a damaged file succeeded silently")
	}
}

// TestS3BackupsDuringPrune: two clients back up in a loop while a third
// forgets and prunes repeatedly. Every snapshot that remains restores
// exactly, and check --read-data passes at the end.
func TestS3BackupsDuringPrune(t *testing.T) {
	srv := miniotest.Start(t)
	bin := cairnBin(t)
	srv.MakeBucket(t, "stress")
	url := srv.URL("stress", "repo")
	mk := func(pw string) *client {
		return newClient(t, bin, url, pw).
			with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
	}
	admin := mk("pw")
	admin.ok("init", "--pack-size", "1M")
	base := t.TempDir()
	makeTree(t, base, 50, 20)

	const rounds = 4
	sources := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	stop := make(chan struct{})
	for ci, name := range []string{"alice", "bob"} {
		cl := mk("pw")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				// Each round backs up a new directory: shared content from
				// base plus files of its own, so dedup and pruning interact.
				src := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%d", name, i))
				copyTree(t, base, src)
				makeTree(t, filepath.Join(src, "own"), uint64(1000+ci*100+i), 6)
				r := cl.run("backup", "--host", name, src)
				if r.code != 0 {
					errs <- fmt.Errorf("%s round %d: exit %d: %s", name, i, r.code, r.stderr)
					return
				}
				mu.Lock()
				sources[src] = true
				mu.Unlock()
			}
		}()
	}
	var pruneWG sync.WaitGroup
	pruneWG.Add(1)
	go func() {
		defer pruneWG.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := admin.run("forget", "--keep-last", "2", "--group-by", "host", "--prune")
			if r.code != 0 {
				errs <- fmt.Errorf("forget --prune: exit %d: %s", r.code, r.stderr)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	pruneWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The loop's last forget may have run before the last backups ended.
	admin.ok("forget", "--keep-last", "2", "--group-by", "host", "--prune")
	admin.ok("check", "--read-data")
	snaps := snapshotsJSON(t, admin)
	if len(snaps) != 4 {
		t.Fatalf("want 2 snapshots per host after keep-last 2, got %d", len(snaps))
	}
	for _, s := range snaps {
		if len(s.Paths) != 1 || !sources[s.Paths[0]] {
			t.Fatalf("snapshot %s has unexpected paths %v", s.ID, s.Paths)
		}
		target := t.TempDir()
		admin.ok("restore", s.ID, "--target", target)
		compareTrees(t, s.Paths[0], filepath.Join(target, s.Paths[0]))
	}
}
