package restorer

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// dumpFixture is a small tree backed up with small chunks: files (empty,
// one byte, multi-chunk), nested directories, a symlink, a hard link, a
// fifo and (where supported) an extended attribute.
type dumpFixture struct {
	fault *fault.Store
	src   string // the backed-up directory
	snap  *snapshot.Snapshot
	nodes map[string]*snapshot.Node // by snapshot path
	big   []byte
}

func newDumpFixture(t *testing.T) *dumpFixture {
	t.Helper()
	fx := &dumpFixture{src: filepath.Join(t.TempDir(), "src")}
	p := func(name string) string { return filepath.Join(fx.src, name) }
	fx.big = randomBytes(rand.New(rand.NewPCG(3, 4)), 1<<20+777)
	writeFile(t, p("big.bin"), fx.big, 0o640)
	writeFile(t, p("empty"), nil, 0o600)
	writeFile(t, p("one"), []byte{'x'}, 0o644)
	writeFile(t, p("sub/deeper/note.txt"), []byte("note\n"), 0o644)
	writeFile(t, p("other/x.bin"), []byte("other\n"), 0o644)
	writeFile(t, p("hard1"), []byte("linked content\n"), 0o644)
	must(t, os.Link(p("hard1"), p("sub/hard2")))
	must(t, os.Symlink("../one", p("sub/link")))
	must(t, unix.Mkfifo(p("fifo"), 0o600))
	writeFile(t, p(badName), []byte("not utf-8\n"), 0o644)
	if os.Geteuid() == 0 {
		must(t, unix.Mknod(p("null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	}
	writeFile(t, p("xattr"), []byte("x\n"), 0o644)
	if err := unix.Lsetxattr(p("xattr"), xattrName, []byte("v\x00\xff"), 0); err != nil && !isNotSupported(err) {
		t.Fatal(err)
	}
	must(t, os.Chmod(p("sub"), 0o750))
	setTimes(t, fx.src)

	fx.fault = fault.New(mem.New())
	testRepo(t, fx.fault, smallChunks(), 256<<10)
	fx.snap = backup(t, fx.fault, fx.src)
	r := openRepo(t, fx.fault)
	fx.nodes = map[string]*snapshot.Node{}
	must(t, snapshot.Walk(context.Background(), r, fx.snap.Tree, func(path []byte, n *snapshot.Node) error {
		fx.nodes[string(path)] = n
		return nil
	}))
	if n := fx.nodes[fx.src+"/big.bin"]; n == nil || len(n.Content) < 4 {
		t.Fatalf("big.bin is not a multi-chunk file: %+v", n)
	}
	return fx
}

// dump dumps dir of the fixture's snapshot, returning the output and the
// warnings.
func (fx *dumpFixture) dump(t *testing.T, dir string, format Archive) ([]byte, []string, error) {
	t.Helper()
	r := openRepo(t, fx.fault)
	var out bytes.Buffer
	var warnings []string
	err := DumpPath(context.Background(), r, fx.snap, dir, DumpOptions{Archive: format, Warn: func(p string, err error) {
		warnings = append(warnings, p+": "+err.Error())
	}}, &out)
	return out.Bytes(), warnings, err
}

// below lists the snapshot paths strictly below dir.
func (fx *dumpFixture) below(dir string) []string {
	var out []string
	for p := range fx.nodes {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

func TestDumpTar(t *testing.T) {
	fx := newDumpFixture(t)
	out, warnings, err := fx.dump(t, fx.src, ArchiveTar)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("dump: %v, warnings %q", err, warnings)
	}
	prefix := strings.TrimPrefix(fx.src, "/") + "/"
	tr := tar.NewReader(bytes.NewReader(out))
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		name := strings.TrimSuffix(h.Name, "/")
		if !strings.HasPrefix(name, prefix) {
			t.Fatalf("entry %q is not below %q", h.Name, prefix)
		}
		path := "/" + name
		n := fx.nodes[path]
		if n == nil {
			t.Fatalf("entry %q is not in the snapshot", h.Name)
		}
		seen[path] = true
		if h.Mode != int64(n.Mode) || h.Uid != int(n.UID) || h.Gid != int(n.GID) || h.Uname != n.User || h.Gname != n.Group {
			t.Errorf("%s: mode %o uid %d gid %d %q/%q, want %o %d %d %q/%q", path, h.Mode, h.Uid, h.Gid, h.Uname, h.Gname, n.Mode, n.UID, n.GID, n.User, n.Group)
		}
		if !h.ModTime.Equal(time.Unix(0, n.MTime)) {
			t.Errorf("%s: mtime %v, want %v", path, h.ModTime, time.Unix(0, n.MTime))
		}
		data, err := io.ReadAll(tr)
		must(t, err)
		switch filepath.Base(path) {
		case "sub", "deeper", "other":
			if h.Typeflag != tar.TypeDir || !strings.HasSuffix(h.Name, "/") {
				t.Errorf("%s: type %c name %q, want a directory", path, h.Typeflag, h.Name)
			}
		case "link":
			if h.Typeflag != tar.TypeSymlink || h.Linkname != "../one" {
				t.Errorf("%s: type %c -> %q", path, h.Typeflag, h.Linkname)
			}
		case "fifo":
			if h.Typeflag != tar.TypeFifo {
				t.Errorf("%s: type %c, want a fifo", path, h.Typeflag)
			}
		case "null":
			if h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 {
				t.Errorf("%s: type %c %d,%d, want char device 1,3", path, h.Typeflag, h.Devmajor, h.Devminor)
			}
		case "hard2": // after hard1 in walk order
			if h.Typeflag != tar.TypeLink || h.Linkname != prefix+"hard1" || len(data) != 0 {
				t.Errorf("%s: type %c -> %q with %d bytes, want a hard link to %shard1", path, h.Typeflag, h.Linkname, len(data), prefix)
			}
		default:
			want := readFile(t, filepath.Join(fx.src, strings.TrimPrefix(path, fx.src)))
			if h.Typeflag != tar.TypeReg || !bytes.Equal(data, want) {
				t.Errorf("%s: type %c, %d bytes, want a file of %d equal bytes", path, h.Typeflag, len(data), len(want))
			}
		}
		for _, x := range n.Xattrs {
			if got, ok := h.PAXRecords["SCHILY.xattr."+x.Name]; !ok || got != string(x.Value) {
				t.Errorf("%s: xattr %s = %q, want %q", path, x.Name, got, x.Value)
			}
		}
	}
	for _, p := range fx.below(fx.src) {
		if !seen[p] {
			t.Errorf("%s is not in the archive", p)
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d entries", len(seen))
	}
}

func TestDumpZip(t *testing.T) {
	fx := newDumpFixture(t)
	out, warnings, err := fx.dump(t, fx.src+"/", ArchiveZip)
	must(t, err)
	wantWarnings := []string{fx.src + "/fifo"}
	if os.Geteuid() == 0 {
		wantWarnings = append(wantWarnings, fx.src+"/null")
	}
	if len(warnings) != len(wantWarnings) {
		t.Errorf("warnings %q, want one for each of %q", warnings, wantWarnings)
	}
	for i, w := range wantWarnings {
		if i < len(warnings) && (!strings.HasPrefix(warnings[i], w+": ") || !strings.Contains(warnings[i], "zip")) {
			t.Errorf("warning %q, want one about %s", warnings[i], w)
		}
	}
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	must(t, err)
	prefix := strings.TrimPrefix(fx.src, "/") + "/"
	seen := map[string]bool{}
	for _, f := range zr.File {
		path := "/" + strings.TrimSuffix(f.Name, "/")
		n := fx.nodes[path]
		if n == nil || !strings.HasPrefix(f.Name, prefix) {
			t.Fatalf("entry %q is not in the snapshot below %s", f.Name, prefix)
		}
		seen[path] = true
		if f.Mode() != n.FileMode() {
			t.Errorf("%s: mode %v, want %v", path, f.Mode(), n.FileMode())
		}
		if f.Modified.Unix() != time.Unix(0, n.MTime).Unix() {
			t.Errorf("%s: mtime %v, want %v", path, f.Modified, time.Unix(0, n.MTime))
		}
		rc, err := f.Open()
		must(t, err)
		data, err := io.ReadAll(rc)
		must(t, err)
		rc.Close()
		switch n.Type {
		case snapshot.NodeDir:
			if !strings.HasSuffix(f.Name, "/") || len(data) != 0 {
				t.Errorf("%s: directory entry %q with %d bytes", path, f.Name, len(data))
			}
		case snapshot.NodeSymlink:
			if string(data) != "../one" {
				t.Errorf("%s: symlink entry holds %q", path, data)
			}
		case snapshot.NodeFile: // hard links are copies
			want := readFile(t, filepath.Join(fx.src, strings.TrimPrefix(path, fx.src)))
			if !bytes.Equal(data, want) {
				t.Errorf("%s: %d bytes, want %d equal bytes", path, len(data), len(want))
			}
		default:
			t.Errorf("%s: a %s in a zip archive", path, n.Type)
		}
	}
	for _, p := range fx.below(fx.src) {
		if !seen[p] && !strings.HasSuffix(p, "/fifo") && !strings.HasSuffix(p, "/null") {
			t.Errorf("%s is not in the archive", p)
		}
	}
}

// TestDumpArchiveDamagedBlob: a blob of a file that fails its checks fails
// the dump with an error naming the file, and what was written is not an
// archive a reader accepts (never a silently short entry).
func TestDumpArchiveDamagedBlob(t *testing.T) {
	fx := newDumpFixture(t)
	r := openRepo(t, fx.fault)
	big := fx.nodes[fx.src+"/big.bin"]
	e, ok := r.Index().Lookup(big.Content[len(big.Content)/2])
	if !ok {
		t.Fatal("blob not in the index")
	}
	fx.fault.Corrupt(repo.PackName(e.Pack), int64(e.Offset)+40)
	for _, format := range []Archive{ArchiveTar, ArchiveZip} {
		out, _, err := fx.dump(t, fx.src, format)
		if err == nil {
			t.Fatalf("format %d: dump of a damaged blob succeeded", format)
		}
		if !strings.Contains(err.Error(), fx.src+"/big.bin") || !errors.Is(err, repo.ErrCorrupt) {
			t.Errorf("format %d: error %v does not name big.bin as damaged", format, err)
		}
		if format == ArchiveZip {
			if _, err := zip.NewReader(bytes.NewReader(out), int64(len(out))); err == nil {
				t.Error("the failed zip dump reads as a complete archive")
			}
			continue
		}
		tr := tar.NewReader(bytes.NewReader(out))
		for {
			_, err = tr.Next()
			if err == nil {
				_, err = io.Copy(io.Discard, tr)
			}
			if err != nil {
				break
			}
		}
		if err == io.EOF {
			t.Error("the failed tar dump reads as a complete archive")
		}
	}
}

func TestDumpPathNames(t *testing.T) {
	fx := newDumpFixture(t)
	// A file is its content; a directory's names are snapshot paths.
	out, _, err := fx.dump(t, fx.src+"/big.bin", ArchiveTar)
	if err != nil || !bytes.Equal(out, fx.big) {
		t.Fatalf("dump of a file: %d bytes, %v", len(out), err)
	}
	out, _, err = fx.dump(t, "/", ArchiveTar)
	must(t, err)
	h, err := tar.NewReader(bytes.NewReader(out)).Next()
	must(t, err)
	if first := strings.SplitN(strings.TrimPrefix(fx.src, "/"), "/", 2)[0] + "/"; h.Name != first {
		t.Errorf("first entry of / is %q, want %q", h.Name, first)
	}
	if _, _, err := fx.dump(t, fx.src+"/missing", ArchiveTar); !errors.Is(err, snapshot.ErrPathNotFound) {
		t.Errorf("dump of a missing path: %v", err)
	}
	if _, err := ParseArchive("rar"); err == nil {
		t.Error("ParseArchive accepted rar")
	}
	if a, err := ParseArchive(""); err != nil || a != ArchiveTar {
		t.Errorf("default archive %v %v", a, err)
	}
}

// TestDumpForgedSize: a file node whose size is not its content's (a
// forged or damaged tree) fails the dump, and never more than the size the
// archive header promised is written.
func TestDumpForgedSize(t *testing.T) {
	fx := newDumpFixture(t)
	r := openRepo(t, fx.fault)
	for _, delta := range []int64{+1, -1} {
		n := *fx.nodes[fx.src+"/big.bin"]
		n.Size = uint64(int64(n.Size) + delta)
		var out bytes.Buffer
		err := writeContent(context.Background(), r, &n, "/big.bin", &out)
		if err == nil || !strings.Contains(err.Error(), "/big.bin") || !strings.Contains(err.Error(), "inconsistent") {
			t.Errorf("size %+d: %v", delta, err)
		}
		if uint64(out.Len()) > n.Size {
			t.Errorf("size %+d: %d bytes written, more than the %d the node says", delta, out.Len(), n.Size)
		}
	}
}
