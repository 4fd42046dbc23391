package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// cairnIn runs cairn in-process with stdin as its standard input.
func cairnIn(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(t.Context(), args, bytes.NewReader(stdin), &out, &errb)
	r := result{out.String(), errb.String(), code}
	if strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("cairn %q printed a stack trace:\n%s", args, r.stderr)
	}
	return r
}

// newCLIRepo isolates the test and initialises a repository.
func newCLIRepo(t *testing.T) string {
	t.Helper()
	home := isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "sources test")
	ok(t, "init")
	return home
}

// snapshotPaths lists the paths of every snapshot.
func snapshotPaths(t *testing.T) [][]string {
	t.Helper()
	var snaps []struct {
		Paths []string `json:"paths"`
	}
	if err := json.Unmarshal([]byte(ok(t, "snapshots", "--json")), &snaps); err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, s := range snaps {
		out = append(out, s.Paths)
	}
	return out
}

func TestBackupStdin(t *testing.T) {
	home := newCLIRepo(t)
	data := make([]byte, 3<<20+17)
	rand.NewChaCha8([32]byte{3}).Read(data)
	if r := cairnIn(t, data, "backup", "--stdin", "--stdin-filename", "db.sql"); r.code != 0 {
		t.Fatalf("backup --stdin: %+v", r)
	}
	if got := snapshotPaths(t); len(got) != 1 || len(got[0]) != 1 || got[0][0] != "/db.sql" {
		t.Fatalf("snapshot paths %q, want [[/db.sql]]", got)
	}
	if out := ok(t, "dump", "latest", "/db.sql"); out != string(data) {
		t.Fatalf("dump returned %d bytes, want the %d backed up", len(out), len(data))
	}
	target := filepath.Join(home, "r")
	ok(t, "restore", "latest", "--target", target)
	fi, err := os.Stat(filepath.Join(target, "db.sql"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored stream: %v, mode %v", err, fi)
	}
	if got, _ := os.ReadFile(filepath.Join(target, "db.sql")); !bytes.Equal(got, data) {
		t.Fatal("restored stream differs")
	}

	fails(t, exitError, "takes no paths", "backup", "--stdin", home)
	fails(t, exitError, "--stdin-filename needs", "backup", "--stdin-filename", "x", home)
	fails(t, exitError, "stdin file name", "backup", "--stdin", "--stdin-filename", "a/b")
}

// TestBackupStdinFromCommand: a command that fails (exit status, or killed)
// fails the backup with exit 1, its status and stderr in the message, and
// leaves no snapshot; one that succeeds is stored exactly.
func TestBackupStdinFromCommand(t *testing.T) {
	newCLIRepo(t)
	for _, tc := range []struct{ script, want string }{
		{"head -c 300000 /dev/zero; echo 'pg_dump: error: connection refused' >&2; exit 3", "exited with status 3"},
		{"head -c 300000 /dev/zero; kill -9 $$", "was killed"},
	} {
		r := cairn(t, "backup", "--stdin-from-command", "--", "sh", "-c", tc.script)
		if r.code != exitError || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "no snapshot") {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 saying %q", tc.script, r.code, r.stderr, tc.want)
		}
		if strings.Contains(tc.script, "connection refused") && !strings.Contains(r.stderr, "its stderr ended with: pg_dump: error: connection refused") {
			t.Errorf("stderr tail missing from %q", r.stderr)
		}
	}
	if got := snapshotPaths(t); len(got) != 0 {
		t.Fatalf("failed commands left snapshots %q", got)
	}
	fails(t, exitError, "needs the command", "backup", "--stdin-from-command")
	ok(t, "backup", "--stdin-from-command", "--stdin-filename", "out.txt", "--", "sh", "-c", "printf 'dump\\n'; echo note >&2")
	if out := ok(t, "dump", "latest", "/out.txt"); out != "dump\n" {
		t.Fatalf("dump: %q", out)
	}
}

// restoredNames backs up nothing itself: it restores latest and lists the
// names found in dir (a backed-up directory) in the restored copy.
func restoredNames(t *testing.T, home, dir string) []string {
	t.Helper()
	target, err := os.MkdirTemp(home, "restore")
	if err != nil {
		t.Fatal(err)
	}
	ok(t, "restore", "latest", "--target", target)
	entries, err := os.ReadDir(target + dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestBackupFilesFrom(t *testing.T) {
	home := newCLIRepo(t)
	dir := filepath.Join(home, "src")
	names := []string{"with space", "#hash", " lead", "star[1].txt", "glob-a.txt", "glob-b.txt", "new\nline", "other"}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	lists := filepath.Join(home, "lists")
	os.MkdirAll(lists, 0o755)
	write := func(name, content string) string {
		p := filepath.Join(lists, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// --files-from: comments, blank lines, trimmed spaces, globs; "#hash"
	// is a comment there.
	ff := write("ff", "# my list\n\n  with space  \n#hash\nglob-*.txt\r\n")
	ok(t, "backup", "--files-from", ff)
	want := []string{"glob-a.txt", "glob-b.txt", "with space"}
	if got := restoredNames(t, home, dir); !equalStrings(got, want) {
		t.Errorf("--files-from restored %q, want %q", got, want)
	}

	// --files-from-verbatim: literal lines, "#hash" and " lead" included,
	// brackets not a glob; combined with an argument.
	fv := write("fv", "#hash\n lead\nstar[1].txt\n\n")
	ok(t, "backup", "--files-from-verbatim", fv, "other")
	want = []string{" lead", "#hash", "other", "star[1].txt"}
	if got := restoredNames(t, home, dir); !equalStrings(got, want) {
		t.Errorf("--files-from-verbatim restored %q, want %q", got, want)
	}

	// --files-from-raw from stdin: a newline inside a name; two lists.
	if r := cairnIn(t, []byte("new\nline\x00with space\x00"), "backup", "--files-from-raw", "-", "--files-from-verbatim", fv); r.code != 0 {
		t.Fatalf("--files-from-raw -: %+v", r)
	}
	want = []string{" lead", "#hash", "new\nline", "star[1].txt", "with space"}
	if got := restoredNames(t, home, dir); !equalStrings(got, want) {
		t.Errorf("--files-from-raw restored %q, want %q", got, want)
	}

	fails(t, exitError, "name no path", "backup", "--files-from", write("empty", "# nothing\n\n"))
	fails(t, exitError, "only once", "backup", "--files-from", "-", "--files-from-raw", "-")
	fails(t, exitError, "no such file", "backup", "--files-from-verbatim", write("missing", "not-there\n"))
	fails(t, exitError, "nothing to back up", "backup")
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fileTree maps every path below root to its type, size and content.
func fileTree(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		desc := fi.Mode().String() + " " + fi.ModTime().String()
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			desc += " " + string(b)
		}
		m[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRestoreDryRunAndDelete(t *testing.T) {
	home := newCLIRepo(t)
	src := filepath.Join(home, "src")
	os.MkdirAll(filepath.Join(src, "d"), 0o755)
	os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(src, "d", "b"), []byte("b"), 0o644)
	ok(t, "backup", src)
	target := filepath.Join(home, "t")
	ok(t, "restore", "latest", "--target", target)
	restored := target + src
	os.WriteFile(filepath.Join(restored, "extra"), []byte("x"), 0o644)
	os.Remove(filepath.Join(restored, "a"))
	before := fileTree(t, target)

	out := ok(t, "restore", "latest", "--target", target, "--dry-run", "--delete", "-v")
	for _, want := range []string{"delete         " + restored + "/extra", "new            " + restored + "/a", "skip-unchanged " + restored + "/d/b", "would delete 1 entries", "nothing was written"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if after := fileTree(t, target); !equalStrings(sortedKeysValues(before), sortedKeysValues(after)) {
		t.Fatalf("dry run changed the target")
	}

	fails(t, exitError, "add --yes", "restore", "latest", "--target", target, "--delete")
	if after := fileTree(t, target); !equalStrings(sortedKeysValues(before), sortedKeysValues(after)) {
		t.Fatalf("refused --delete changed the target")
	}
	out = ok(t, "restore", "latest", "--target", target, "--delete", "--yes")
	if !strings.Contains(out, "deleted 1 entries") {
		t.Errorf("summary: %s", out)
	}
	if _, err := os.Lstat(filepath.Join(restored, "extra")); !os.IsNotExist(err) {
		t.Errorf("extra still there: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(restored, "a")); err != nil || string(b) != "a" {
		t.Errorf("a not restored: %v", err)
	}
}

func sortedKeysValues(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"\x00"+v)
	}
	sort.Strings(out)
	return out
}
