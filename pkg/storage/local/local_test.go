package local_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/local"
	"github.com/cairn-backup/cairn/pkg/storage/storagetest"
)

func newStore(t *testing.T) *local.Store {
	t.Helper()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t) })
}

func list(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	var names []string
	err := s.List(t.Context(), prefix, func(fi storage.ObjectInfo) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return names
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCrashLeftovers simulates a crash between creating the temporary file
// and renaming it: the half-written file must not be visible as an object.
func TestCrashLeftovers(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	if err := s.Put(ctx, "data/ab/ab01", []byte("complete")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(s.Dir(), "data", "ab", ".tmp-0123456789abcdef"), "half a pa")
	writeFile(t, filepath.Join(s.Dir(), ".tmp-fedcba9876543210"), "half a config")

	for _, prefix := range []string{"", "data/", "data/ab/", "data/ab/.tmp", "data/ab/ab"} {
		got := list(t, s, prefix)
		want := []string{"data/ab/ab01"}
		if prefix == "data/ab/.tmp" {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	if _, err := s.Stat(ctx, "config"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(config) after crashed put: %v, want ErrNotFound", err)
	}
	for _, name := range []string{"data/ab/.tmp-0123456789abcdef", ".tmp-fedcba9876543210"} {
		if _, err := s.Get(ctx, name, 0, -1); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Get(%q): %v, want ErrInvalidName", name, err)
		}
		if err := s.Put(ctx, name, nil); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Put(%q): %v, want ErrInvalidName", name, err)
		}
	}
}

// TestPutLeavesNoTempFiles checks that successful and failed puts clean up.
func TestPutLeavesNoTempFiles(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	for _, name := range []string{"config", "data/00/0001", "keys/k"} {
		if err := s.Put(ctx, name, []byte(name)); err != nil {
			t.Fatal(err)
		}
	}
	// A refused replacement cleans up too.
	if err := s.Put(ctx, "data/00/0001", []byte("other")); !errors.Is(err, storage.ErrExists) {
		t.Errorf("Put over an existing object: %v, want ErrExists", err)
	}
	// "config" is a file, so nothing can be stored below it.
	if err := s.Put(ctx, "config/sub", []byte("x")); err == nil {
		t.Error("Put below a file succeeded")
	}
	var files []string
	err := filepath.WalkDir(s.Dir(), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(s.Dir(), path)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"config", "data/00/0001", "keys/k"}; !slices.Equal(files, want) {
		t.Errorf("files on disk = %q, want %q", files, want)
	}
}

func TestForeignEntriesIgnored(t *testing.T) {
	s := newStore(t)
	if err := s.Put(t.Context(), "data/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(s.Dir(), "System Volume Information", "IndexerVolumeGuid"), "guid")
	writeFile(t, filepath.Join(s.Dir(), ".DS_Store"), "junk")
	writeFile(t, filepath.Join(s.Dir(), "data", "Thumbs.db"), "junk")
	if err := os.Symlink(filepath.Join(s.Dir(), "data", "x"), filepath.Join(s.Dir(), "data", "link")); err != nil {
		t.Logf("no symlink support: %v", err)
	}
	if got := list(t, s, ""); !slices.Equal(got, []string{"data/x"}) {
		t.Errorf("List = %q, want only data/x", got)
	}
}

func TestMissingRepository(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "not", "yet")
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{
		"Put":    s.Put(ctx, "config", []byte("x")),
		"Stat":   func() error { _, err := s.Stat(ctx, "config"); return err }(),
		"Get":    func() error { _, err := s.Get(ctx, "data/ab/abcd", 0, -1); return err }(),
		"List":   s.List(ctx, "data/", func(storage.ObjectInfo) error { return nil }),
		"Delete": s.Delete(ctx, "config"),
	}
	for op, err := range checks {
		if !errors.Is(err, storage.ErrNoRepository) {
			t.Errorf("%s on a missing directory: %v, want ErrNoRepository", op, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("operations created the repository directory (stat: %v)", err)
	}

	if err := s.Create(ctx); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Create(ctx); err != nil {
		t.Fatalf("Create of an existing directory: %v", err)
	}
	if err := s.Put(ctx, "data/ab/abcd", []byte("x")); err != nil {
		t.Fatalf("Put after Create: %v", err)
	}
	if _, err := s.Stat(ctx, "config"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat after Create: %v, want ErrNotFound", err)
	}
}

func TestRepositoryIsAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	writeFile(t, path, "not a repository")
	s, err := local.New(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), "config"); !errors.Is(err, storage.ErrNoRepository) {
		t.Errorf("Stat: %v, want ErrNoRepository", err)
	}
	if err := s.List(t.Context(), "", func(storage.ObjectInfo) error { return nil }); !errors.Is(err, storage.ErrNoRepository) {
		t.Errorf("List: %v, want ErrNoRepository", err)
	}
}

func TestNewRelativePath(t *testing.T) {
	if _, err := local.New(""); err == nil {
		t.Error("New(\"\") succeeded")
	}
	s, err := local.New("repo")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(s.Dir()) {
		t.Errorf("Dir() = %q, want an absolute path", s.Dir())
	}
}

// TestListSkipsUnrelatedDirectories checks that listing a subdirectory does
// not read the rest of the tree: an unreadable sibling directory must not
// matter.
func TestListSkipsUnrelatedDirectories(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read unreadable directories")
	}
	ctx := t.Context()
	s := newStore(t)
	for _, name := range []string{"data/ab/ab01", "data/cd/cd01", "index/i1"} {
		if err := s.Put(ctx, name, []byte(name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"index", "data/cd"} {
		p := filepath.Join(s.Dir(), filepath.FromSlash(dir))
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(p, 0o700) })
	}
	if got := list(t, s, "data/ab"); !slices.Equal(got, []string{"data/ab/ab01"}) {
		t.Errorf("List(data/ab) = %q", got)
	}
	if err := s.List(ctx, "", func(storage.ObjectInfo) error { return nil }); !errors.Is(err, storage.ErrPermission) {
		t.Errorf("List of everything with an unreadable directory: %v, want ErrPermission", err)
	}
}
