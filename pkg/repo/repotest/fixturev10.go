package repotest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage/local"
)

// FixtureV10Passphrase opens pkg/restorer/testdata/fixture-v1.0, the
// repository written before format 1.1.
const FixtureV10Passphrase = "fixture"

// OpenFixtureV10 copies the format 1.0 fixture repository at dir (a path
// to pkg/restorer/testdata/fixture-v1.0/repo from the calling test's
// package) to a temporary directory, so no test can change the checked-in
// files, opens it with its index loaded, and checks that it really is the
// old format: no index entry records a plaintext length.
func OpenFixtureV10(t *testing.T, dir string) *repo.Repository {
	t.Helper()
	ctx := context.Background()
	cp := filepath.Join(t.TempDir(), "repo")
	if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	store, err := local.New(cp)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, store, []byte(FixtureV10Passphrase), repo.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := r.Index().Each(func(e index.Entry) error {
		n++
		if e.PlainLen != 0 {
			t.Fatalf("fixture entry %s records plain length %d: not a format 1.0 repository", e.ID.Short(), e.PlainLen)
		}
		return nil
	}); err != nil || n == 0 {
		t.Fatalf("fixture index: %d entries, %v", n, err)
	}
	return r
}
