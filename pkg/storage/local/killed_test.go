package local_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/local"
)

// killedPutEnv makes the test binary a child that starts a large Put into
// the directory it names, reports when half of it is written, and then
// stalls until it is killed.
const killedPutEnv = "CAIRN_TEST_LOCAL_KILLED_PUT"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killedPutEnv); dir != "" {
		os.Exit(killedPutChild(dir))
	}
	os.Exit(m.Run())
}

func killedPutChild(dir string) int {
	s, err := local.New(dir)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	local.SetWriteHook(s, func(written int64) {
		if written > 0 {
			fmt.Println("writing")
			time.Sleep(time.Hour) // killed long before
		}
	})
	err = s.Put(context.Background(), "data/ab/abcd", make([]byte, 2*local.WriteChunk))
	fmt.Println("put returned:", err)
	return 2
}

// tempFiles returns the repository-relative paths of the temporary files
// under dir and their sizes.
func tempFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	found := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), ".tmp-") {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		found[filepath.ToSlash(rel)] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestKilledPutLeavesTempThatNextOpenRemoves kills (SIGKILL) a process in
// the middle of a local Put: the half-written temporary file it leaves is
// invisible, reported by StaleTemps once old, never removed while young,
// and removed by the first Put of a later store once old.
func TestKilledPutLeavesTempThatNextOpenRemoves(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s0, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s0.Put(ctx, "config", []byte("config")); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killedPutEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "writing" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q (%v), want %q", line, err, "writing")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("the killed child exited cleanly")
	}

	temps := tempFiles(t, dir)
	if len(temps) != 1 {
		t.Fatalf("temporary files after kill -9: %v, want exactly one", temps)
	}
	var tmpName string
	for name, size := range temps {
		tmpName = name
		if !strings.HasPrefix(name, "data/ab/.tmp-") || size != local.WriteChunk {
			t.Fatalf("temporary file %s of %d bytes, want one of %d bytes in data/ab/", name, size, local.WriteChunk)
		}
	}
	// Something that only looks similar is never touched.
	writeFile(t, filepath.Join(dir, "data", ".tmp-notours"), "user file")

	// Young: invisible, not reported as stale, and not removed by a
	// later writer or by a request to remove everything.
	s1, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := list(t, s1, ""); !slices.Equal(got, []string{"config"}) {
		t.Errorf("List after the killed put = %q, want only config", got)
	}
	if n, _, err := s1.StaleTemps(ctx); n != 0 || err != nil {
		t.Errorf("StaleTemps of a young temporary file = %d, %v; want 0", n, err)
	}
	if err := s1.Put(ctx, "data/cd/cd01", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, _, err := s1.RemoveStaleTemps(ctx, 0); n != 0 || err != nil {
		t.Errorf("RemoveStaleTemps(0) removed %d young files (%v); want none younger than %v", n, err, local.MinTempAge)
	}
	if _, ok := tempFiles(t, dir)[tmpName]; !ok {
		t.Fatalf("a temporary file younger than %v was removed", local.MinTempAge)
	}

	// Old (the clock of the next run is two hours later): reported,
	// then removed by the first Put.
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	s2, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	local.SetClock(s2, later)
	var tc storage.TempCleaner = s2
	if n, size, err := tc.StaleTemps(ctx); n != 1 || size != local.WriteChunk || err != nil {
		t.Errorf("StaleTemps = %d, %d, %v; want 1, %d", n, size, err, local.WriteChunk)
	}
	if err := s2.Put(ctx, "data/ab/abcd", []byte("the object, complete")); err != nil {
		t.Fatalf("Put of the object the killed run was writing: %v", err)
	}
	left := tempFiles(t, dir)
	if _, ok := left[tmpName]; ok || len(left) != 1 {
		t.Errorf("temporary files after the next run's first Put: %v, want only data/.tmp-notours", left)
	}
	if n, _, err := tc.StaleTemps(ctx); n != 0 || err != nil {
		t.Errorf("StaleTemps after cleanup = %d, %v; want 0", n, err)
	}
	want := []string{"config", "data/ab/abcd", "data/cd/cd01"}
	if got := list(t, s2, ""); !slices.Equal(got, want) {
		t.Errorf("List after cleanup = %q, want %q", got, want)
	}
}

// TestRemoveStaleTempsOnRequest covers the explicit request (prune) with
// an age above the minimum.
func TestRemoveStaleTempsOnRequest(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	old := filepath.Join(s.Dir(), "index", ".tmp-00000000000000aa")
	older := filepath.Join(s.Dir(), ".tmp-00000000000000bb")
	writeFile(t, old, "12345")
	writeFile(t, older, "1234567")
	now := time.Now()
	for path, age := range map[string]time.Duration{old: 3 * time.Hour, older: 30 * time.Hour} {
		if err := os.Chtimes(path, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if n, size, err := s.StaleTemps(ctx); n != 2 || size != 12 || err != nil {
		t.Errorf("StaleTemps = %d, %d, %v; want 2, 12", n, size, err)
	}
	if n, size, err := s.RemoveStaleTemps(ctx, 24*time.Hour); n != 1 || size != 7 || err != nil {
		t.Errorf("RemoveStaleTemps(24h) = %d, %d, %v; want 1, 7", n, size, err)
	}
	if got := tempFiles(t, s.Dir()); len(got) != 1 || got["index/.tmp-00000000000000aa"] != 5 {
		t.Errorf("temporary files left = %v, want the 3-hour-old one", got)
	}
}
