package storagetest

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// VersionedStore is a store with versioning on, plus a way to replace an
// object regardless of Put's create-only rule (a plain S3 PUT, as a
// client with put rights but no passphrase could send).
type VersionedStore interface {
	storage.Store
	storage.Versioner
}

// RunVersions checks the storage.Versioner contract on an empty store with
// versioning on. overwrite must store data as the new current version of
// name even when name exists.
func RunVersions(t *testing.T, s VersionedStore, overwrite func(t *testing.T, name string, data []byte)) {
	ctx := t.Context()
	if on, err := s.Versioning(ctx); err != nil || !on {
		t.Fatalf("Versioning = %v, %v; want true", on, err)
	}
	const name = "data/ab/abcd"
	must(t, s.Put(ctx, name, []byte("genuine")))
	overwrite(t, name, []byte("junk that replaced it"))
	must(t, s.Put(ctx, "data/ab/other", []byte("other")))
	must(t, s.Delete(ctx, "data/ab/other"))

	var vs []storage.VersionInfo
	must(t, s.ListVersions(ctx, "data/", func(v storage.VersionInfo) error {
		vs = append(vs, v)
		return nil
	}))
	if len(vs) != 4 {
		t.Fatalf("ListVersions: %d versions, want 4: %+v", len(vs), vs)
	}
	// name sorts before "data/ab/other"; newest first within a name.
	if vs[0].Name != name || !vs[0].IsLatest || vs[0].DeleteMarker || vs[0].Size != int64(len("junk that replaced it")) {
		t.Errorf("first version %+v, want the current junk of %s", vs[0], name)
	}
	if vs[1].Name != name || vs[1].IsLatest || vs[1].DeleteMarker || vs[1].Size != int64(len("genuine")) {
		t.Errorf("second version %+v, want the noncurrent genuine %s", vs[1], name)
	}
	if vs[2].Name != "data/ab/other" || !vs[2].IsLatest || !vs[2].DeleteMarker {
		t.Errorf("third version %+v, want the delete marker of data/ab/other", vs[2])
	}
	if vs[3].Name != "data/ab/other" || vs[3].IsLatest || vs[3].DeleteMarker {
		t.Errorf("fourth version %+v, want the hidden data/ab/other", vs[3])
	}
	for _, v := range vs {
		if v.VersionID == "" {
			t.Errorf("version %+v has no ID", v)
		}
	}

	if got := readVersion(t, s, name, vs[1].VersionID, 0, -1); string(got) != "genuine" {
		t.Errorf("GetVersion of the old version = %q", got)
	}
	if got := readVersion(t, s, name, vs[1].VersionID, 2, 3); string(got) != "nui" {
		t.Errorf("ranged GetVersion = %q, want %q", got, "nui")
	}
	if _, err := s.GetVersion(ctx, "data/ab/other", vs[2].VersionID, 0, -1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetVersion of a delete marker: %v, want ErrNotFound", err)
	}
	if _, err := storage.ReadAll(ctx, s, "data/ab/other"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get of a deleted object: %v, want ErrNotFound", err)
	}

	must(t, s.RestoreVersion(ctx, name, vs[1].VersionID))
	if got, err := storage.ReadAll(ctx, s, name); err != nil || string(got) != "genuine" {
		t.Errorf("after RestoreVersion: %q, %v", got, err)
	}
	must(t, s.RestoreVersion(ctx, "data/ab/other", vs[3].VersionID))
	if got, err := storage.ReadAll(ctx, s, "data/ab/other"); err != nil || string(got) != "other" {
		t.Errorf("after RestoreVersion of a hidden object: %q, %v", got, err)
	}

	must(t, s.DeleteVersion(ctx, name, vs[0].VersionID))
	must(t, s.DeleteVersion(ctx, name, vs[0].VersionID)) // missing: no error
	n := 0
	must(t, s.ListVersions(ctx, name, func(v storage.VersionInfo) error {
		if v.VersionID == vs[0].VersionID {
			t.Errorf("deleted version %s still listed", v.VersionID)
		}
		n++
		return nil
	}))
	if n != 2 {
		t.Errorf("%d versions of %s after DeleteVersion, want 2 (genuine, restored copy)", n, name)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readVersion(t *testing.T, s storage.Versioner, name, versionID string, offset, length int64) []byte {
	t.Helper()
	rc, err := s.GetVersion(t.Context(), name, versionID, offset, length)
	if err != nil {
		t.Fatalf("GetVersion %s %s: %v", name, versionID, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, rc); err != nil {
		t.Fatalf("read version %s %s: %v", name, versionID, err)
	}
	return buf.Bytes()
}
