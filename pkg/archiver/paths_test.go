package archiver

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestPathTree(t *testing.T) {
	tree := pathTree([]string{"/a/b/c", "/a/b/d", "/a/b/c/e", "/x"})
	if tree.leaf || !slices.Equal(tree.names(), []string{"a", "x"}) {
		t.Fatalf("root: leaf %v names %v", tree.leaf, tree.names())
	}
	b := tree.children["a"].children["b"]
	if b.leaf || !slices.Equal(b.names(), []string{"c", "d"}) {
		t.Errorf("/a/b: leaf %v names %v", b.leaf, b.names())
	}
	if c := b.children["c"]; !c.leaf || c.children != nil {
		t.Errorf("/a/b/c is not a plain leaf: %+v", c)
	}
	if root := pathTree([]string{"/", "/etc"}); !root.leaf || root.children != nil {
		t.Errorf("backing up / gives %+v", root)
	}
}

func TestCleanPaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	must(t, os.Mkdir("sub", 0o755))
	got, err := cleanPaths([]string{"sub/", "./sub", dir + "//sub/../sub", "."})
	must(t, err)
	if want := []string{dir, filepath.Join(dir, "sub")}; !slices.Equal(got, want) {
		t.Errorf("cleanPaths = %q, want %q", got, want)
	}
	if _, err := cleanPaths(nil); err == nil {
		t.Error("no paths accepted")
	}
}

// TestHardLinksReadOnce checks that the links of one file are read once.
func TestHardLinksReadOnce(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	data := randomBytes(3, 1<<20)
	writeFile(t, filepath.Join(dir, "a", "one"), data)
	for _, name := range []string{"two", "three"} {
		must(t, os.Link(filepath.Join(dir, "a", "one"), filepath.Join(dir, name)))
	}
	res := backup(t, r, Options{Paths: []string{dir}})
	if s := res.Snapshot.Summary; s.BytesRead != uint64(len(data)) || s.FilesNew != 3 {
		t.Errorf("summary %+v, want %d bytes read once for 3 files", s, len(data))
	}
	got := readBack(t, r, res.Snapshot, dir)
	sum, _ := fileSum(t, filepath.Join(dir, "a", "one"))
	for _, name := range []string{"a/one", "two", "three"} {
		if sf := got[name]; sf.sum != sum || sf.node.Links != 3 {
			t.Errorf("%s: links %d, content ok %v", name, sf.node.Links, sf.sum == sum)
		}
	}
}
