package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// dumpTestRepo backs up makeSmallTree's tree (with a hard link added) into
// a fresh repository and returns the source directory.
func dumpTestRepo(t *testing.T) (home, src string) {
	t.Helper()
	home = isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pw")
	src = filepath.Join(home, "src")
	makeSmallTree(t, src)
	if err := os.Link(filepath.Join(src, "docs", "hello.txt"), filepath.Join(src, "docs", "hello2")); err != nil {
		t.Fatal(err)
	}
	ok(t, "init", "-q")
	ok(t, "backup", "-q", src)
	return home, src
}

// tarEntries reads a tar stream into name -> type and content (link
// target for links).
func tarEntries(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read the tar stream: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Linkname != "" {
			body = []byte(h.Linkname)
		}
		out[h.Name] = string(h.Typeflag) + ":" + string(body)
	}
}

func TestDumpArchiveCommand(t *testing.T) {
	home, src := dumpTestRepo(t)
	hello, _ := os.ReadFile(filepath.Join(src, "docs", "hello.txt"))
	big, _ := os.ReadFile(filepath.Join(src, "docs", "deep", "random.bin"))
	rel := strings.TrimPrefix(src, "/")

	// A directory is a tar stream of snapshot paths (restic's names).
	got := tarEntries(t, []byte(ok(t, "dump", "latest", filepath.Join(src, "docs"))))
	want := map[string]string{
		rel + "/docs/hello.txt":       "0:" + string(hello),
		rel + "/docs/hello2":          "1:" + rel + "/docs/hello.txt",
		rel + "/docs/empty":           "0:",
		rel + "/docs/deep/":           "5:",
		rel + "/docs/deep/random.bin": "0:" + string(big),
	}
	if len(got) != len(want) {
		t.Errorf("tar entries %q, want %q", keys(got), keys(want))
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("tar entry %s: %.40q, want %.40q", name, got[name], w)
		}
	}

	// SNAPSHOT:DIR puts the directory's contents at the top.
	got = tarEntries(t, []byte(ok(t, "dump", "latest:"+src, "/docs")))
	if got["docs/hello.txt"] != "0:"+string(hello) || got["docs/hello2"] != "1:docs/hello.txt" {
		t.Errorf("dump latest:%s /docs: %q", src, keys(got))
	}
	if out := ok(t, "dump", "latest:"+filepath.Join(src, "docs"), "hello.txt"); out != string(hello) {
		t.Errorf("dump latest:DIR FILE: %q", out)
	}

	// zip to --target: symlinks as symlink entries, hard links as copies.
	zipFile := filepath.Join(home, "out.zip")
	ok(t, "dump", "latest:"+src, "/", "--archive", "zip", "--target", zipFile)
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	zipped := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		zipped[f.Name] = f.Mode().String() + ":" + string(b)
	}
	for name, w := range map[string]string{
		"docs/hello.txt": "-rw-r-----:" + string(hello),
		"docs/hello2":    "-rw-r-----:" + string(hello),
		"link":           "Lrwxrwxrwx:docs/hello.txt",
		"docs/deep/":     "drwxr-xr-x:",
	} {
		if zipped[name] != w {
			t.Errorf("zip entry %s: %.40q, want %.40q", name, zipped[name], w)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(home, ".out.zip.cairn-dump-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %q", leftovers)
	}

	fails(t, exitError, "holds no /nope", "dump", "latest:/nope", "/")
	fails(t, exitError, "not a directory", "dump", "latest:"+filepath.Join(src, "docs", "hello.txt"), "/")
	fails(t, exitError, "give tar or zip", "dump", "latest", "/", "--archive", "rar")
	fails(t, exitError, "not found", "dump", "latest", "/no/such/file", "--target", filepath.Join(home, "x.tar"))
	if _, err := os.Stat(filepath.Join(home, "x.tar")); err == nil {
		t.Error("a failed dump --target left its file")
	}
}

func TestSnapshotSubfolder(t *testing.T) {
	home, src := dumpTestRepo(t)
	// ls: paths relative to the subfolder.
	out := ok(t, "ls", "latest:"+src)
	if !strings.Contains(out, "\n/docs/hello.txt\n") || strings.Contains(out, src) {
		t.Errorf("ls latest:%s:\n%s", src, out)
	}
	if out := ok(t, "ls", "latest:"+src, "/docs/deep"); out != "/docs/deep/random.bin\n" {
		t.Errorf("ls latest:DIR PATH: %q", out)
	}
	// restore: the subfolder's contents into the target.
	target := filepath.Join(home, "r")
	ok(t, "restore", "latest:"+filepath.Join(src, "docs"), "--target", target)
	sameTree(t, filepath.Join(src, "docs"), target)

	fails(t, exitError, "holds no "+src+"/missing", "restore", "latest:"+src+"/missing", "--target", filepath.Join(home, "r2"))
	fails(t, exitError, "holds no /nope", "ls", "latest:/nope")
	if _, err := os.Stat(filepath.Join(home, "r2")); err == nil {
		t.Error("a restore of a missing subfolder created its target")
	}
}

// TestDumpClosedPipe: cairn dump piped into a reader that stops early
// (| head -c 10) ends quietly, exit 0, without a stack trace. It runs the
// test binary as cairn (TestDumpHelperProcess) so that stdout is a real
// pipe on file descriptor 1, where Go would otherwise die of SIGPIPE.
func TestDumpClosedPipe(t *testing.T) {
	_, src := dumpTestRepo(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestDumpHelperProcess$")
	cmd.Env = append(os.Environ(), "CAIRN_TEST_HELPER_ARGS=dump\nlatest\n"+src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(stdout, head); err != nil {
		t.Fatalf("read the first bytes: %v (stderr %s)", err, stderr.String())
	}
	stdout.Close()
	err = cmd.Wait()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("cairn dump into a closed pipe: %v, stderr %q", err, stderr.String())
	}
}

// TestDumpHelperProcess is cairn's main for TestDumpClosedPipe.
func TestDumpHelperProcess(t *testing.T) {
	args := os.Getenv("CAIRN_TEST_HELPER_ARGS")
	if args == "" {
		return // not run as the helper
	}
	os.Exit(runMain(strings.Split(args, "\n"), os.Stdin, os.Stdout, os.Stderr))
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestDumpInterruptMessage: an interrupted dump says that its output is
// incomplete, not what an interrupted backup says.
func TestDumpInterruptMessage(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := dumpInterrupted(ctx, fmt.Errorf("dump /x: %w", context.Canceled), "what was written is incomplete")
	got := errorLine(err, true)
	if !strings.Contains(got, "dump interrupted: what was written is incomplete") || strings.Contains(got, "backup") {
		t.Errorf("message %q", got)
	}
	if dumpInterrupted(t.Context(), io.ErrUnexpectedEOF, "") != io.ErrUnexpectedEOF {
		t.Error("an error without an interruption was rewritten")
	}
}
