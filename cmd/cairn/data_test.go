package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// makeSmallTree writes a small tree with nested directories, an empty
// file, a file of a few chunks, a symlink and files to exclude.
func makeSmallTree(t *testing.T, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "docs", "deep"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "node_modules", "pkg"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "docs", "hello.txt"), []byte("hello, cairn\n"), 0o640))
	must(os.WriteFile(filepath.Join(dir, "docs", "empty"), nil, 0o600))
	big := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{1}).Read(big)
	must(os.WriteFile(filepath.Join(dir, "docs", "deep", "random.bin"), big, 0o644))
	must(os.WriteFile(filepath.Join(dir, "scratch.tmp"), []byte("excluded"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "node_modules", "pkg", "index.js"), []byte("excluded"), 0o644))
	must(os.Symlink("docs/hello.txt", filepath.Join(dir, "link")))
}

// sameTree fails unless got holds exactly the regular files, symlinks and
// directories of want (minus the excluded names), with equal bytes.
func sameTree(t *testing.T, want, got string, excluded ...string) {
	t.Helper()
	collect := func(root string) map[string]string {
		m := map[string]string{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			for _, x := range excluded {
				if rel == x {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
			}
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				m[rel] = "link:" + target
			case d.IsDir():
				m[rel] = "dir"
			default:
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				m[rel] = fmt.Sprintf("file:%x", b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	w, g := collect(want), collect(got)
	for k, v := range w {
		if g[k] != v {
			t.Errorf("%s differs after restore (have %.40q, want %.40q)", k, g[k], v)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("restored tree has extra %s", k)
		}
	}
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	home := isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	makeSmallTree(t, src)
	ok(t, "init", "-q")

	out := ok(t, "backup", src, "--tag", "first", "--exclude", "*.tmp", "--exclude", "**/node_modules", "--host", "testhost")
	if !strings.Contains(out, "Snapshot ") || !strings.Contains(out, "added after deduplication") {
		t.Errorf("backup summary:\n%s", out)
	}

	// JSON lines: status lines may come first; the last is the summary.
	out = ok(t, "backup", src, "--json", "--exclude-file", writeFile(t, home, "excludes", "# comment\n*.tmp\nnode_modules/\n"), "--host", "testhost")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum backupSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.MessageType != "summary" || len(sum.SnapshotID) != 64 {
		t.Fatalf("backup --json last line %q: %v", lines[len(lines)-1], err)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || (m["message_type"] != "status" && m["message_type"] != "summary") {
			t.Errorf("backup --json printed %q", l)
		}
	}

	var snaps []map[string]any
	if err := json.Unmarshal([]byte(ok(t, "snapshots", "--json")), &snaps); err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots --json: %v %v", snaps, err)
	}
	if snaps[1]["id"] != sum.SnapshotID || snaps[0]["host"] != "testhost" {
		t.Errorf("snapshots --json: %v", snaps)
	}
	table := ok(t, "snapshots", "--tag", "first")
	if !strings.Contains(table, snaps[0]["short_id"].(string)) || strings.Contains(table, sum.SnapshotID[:8]) {
		t.Errorf("snapshots --tag first:\n%s", table)
	}

	listing := ok(t, "ls", "latest")
	for _, want := range []string{filepath.Join(src, "docs", "deep", "random.bin"), filepath.Join(src, "link")} {
		if !strings.Contains(listing, want+"\n") {
			t.Errorf("ls latest lacks %s:\n%s", want, listing)
		}
	}
	if strings.Contains(listing, "scratch.tmp") || strings.Contains(listing, "node_modules") {
		t.Errorf("ls latest shows excluded files:\n%s", listing)
	}
	long := ok(t, "ls", sum.SnapshotID[:8], filepath.Join(src, "docs"), "-l", "--recursive=false")
	if !strings.Contains(long, "-rw-r-----") || !strings.Contains(long, " 13 ") || strings.Contains(long, "random.bin") {
		t.Errorf("ls -l --recursive=false:\n%s", long)
	}

	target := filepath.Join(home, "restore")
	ok(t, "restore", "latest", "--target", target, "--host", "testhost", "--path", src, "--verify")
	sameTree(t, src, filepath.Join(target, src), "scratch.tmp", "node_modules")
	// Run again, the restore skips what is there (the resume of an
	// interrupted restore).
	if again := ok(t, "restore", "latest", "--target", target); !strings.Contains(again, "Restored 0 files") || !strings.Contains(again, "skipped") {
		t.Errorf("restore into a restored target:\n%s", again)
	}
	sameTree(t, src, filepath.Join(target, src), "scratch.tmp", "node_modules")

	partial := filepath.Join(home, "partial")
	ok(t, "restore", "latest", "--target", partial, "--include", filepath.Join(src, "docs", "deep"))
	if _, err := os.Stat(filepath.Join(partial, src, "docs", "hello.txt")); err == nil {
		t.Errorf("restore --include restored more than asked")
	}

	dumped := ok(t, "dump", "latest", filepath.Join(src, "docs", "deep", "random.bin"))
	want, _ := os.ReadFile(filepath.Join(src, "docs", "deep", "random.bin"))
	if !bytes.Equal([]byte(dumped), want) {
		t.Errorf("dump: %d bytes, want %d equal bytes", len(dumped), len(want))
	}
	fails(t, exitError, "--archive", "dump", "latest", filepath.Join(src, "docs"), "--archive", "rar")

	// verify --against compares with everything on disk: files the backup
	// excluded count as differences, so drop them first.
	// (keeping the directory's mtime, which verify compares too).
	srcInfo, _ := os.Stat(src)
	os.RemoveAll(filepath.Join(src, "node_modules"))
	os.Remove(filepath.Join(src, "scratch.tmp"))
	os.Chtimes(src, srcInfo.ModTime(), srcInfo.ModTime())
	out = ok(t, "verify", "latest", "--against", src)
	if !strings.Contains(out, "0 difference(s)") {
		t.Errorf("verify:\n%s", out)
	}
	os.WriteFile(filepath.Join(src, "docs", "hello.txt"), []byte("changed!\n"), 0o640)
	r := cairn(t, "verify", "latest", "--against", src)
	if r.code != exitError || !strings.Contains(r.stdout, "differs: "+filepath.Join(src, "docs", "hello.txt")) {
		t.Errorf("verify after a change: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	out = ok(t, "backup", src, "--dry-run", "--json")
	if !strings.Contains(out, `"dry_run":true`) {
		t.Errorf("dry run:\n%s", out)
	}
	if err := json.Unmarshal([]byte(ok(t, "snapshots", "--json")), &snaps); err != nil || len(snaps) != 2 {
		t.Errorf("a dry run stored a snapshot: %d", len(snaps))
	}
	fails(t, exitError, "not a snapshot reference", "ls", "yesterday")
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUnreadableFileExitsThree(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file; the e2e suite covers this as an unprivileged user")
	}
	home := isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	os.MkdirAll(src, 0o755)
	writeFile(t, src, "ok", "fine")
	secret := writeFile(t, src, "secret", "no")
	os.Chmod(secret, 0)
	ok(t, "init")
	fails(t, exitPartial, "secret", "backup", src)
}

func TestRunJob(t *testing.T) {
	home := isolate(t)
	src := filepath.Join(home, "Documents")
	makeSmallTree(t, src)
	cfg := writeFile(t, home, "cairn.yaml", fmt.Sprintf(`repositories:
  local:
    url: %s
    password-command: echo "$JOB_PASS"
    env: {JOB_PASS: "${TEST_JOB_PASS}"}
jobs:
  nightly:
    repository: local
    paths: [~/Documents]
    exclude: ["*.tmp", "**/node_modules"]
    tags: [nightly]
    keep: {last: 2}
    check: {read-data-subset: 50%%}
  pruned:
    repository: local
    paths: [~/Documents]
    prune: true
`, filepath.Join(home, "repo")))
	t.Setenv("TEST_JOB_PASS", "job-pass")
	ok(t, "--config", cfg, "--repo", "local", "init")
	for i := range 3 {
		out := ok(t, "--config", cfg, "run", "nightly", "--json")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var sum runSummary
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || !sum.OK || sum.MessageType != "summary" {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
		if len(sum.Steps) != 3 || sum.Steps[1].Step != "forget" || sum.Steps[2].Step != "check" {
			t.Errorf("run %d steps: %+v", i, sum.Steps)
		}
	}
	t.Setenv("CAIRN_PASSWORD", "job-pass")
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	var snaps []map[string]any
	if err := json.Unmarshal([]byte(ok(t, "snapshots", "--json")), &snaps); err != nil || len(snaps) != 2 {
		t.Fatalf("keep last 2: %d snapshots, %v", len(snaps), err)
	}
	if out := ok(t, "ls", "latest"); strings.Contains(out, "scratch.tmp") {
		t.Errorf("the job's exclude was ignored")
	}
	out := ok(t, "--config", cfg, "run", "pruned")
	if !strings.Contains(out, "backup  ok") || !strings.Contains(out, "prune   ok") {
		t.Errorf("run with prune:\n%s", out)
	}
	ok(t, "restore", "latest", "--target", filepath.Join(home, "r"))
	fails(t, exitError, "configured jobs: nightly, pruned", "--config", cfg, "run", "weekly")
	out = ok(t, "--config", cfg, "run", "nightly", "--dry-run")
	if !strings.Contains(out, "forget  skipped") {
		t.Errorf("dry run:\n%s", out)
	}
}
