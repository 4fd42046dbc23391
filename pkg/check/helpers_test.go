package check

import (
	"testing"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"

	"github.com/cairn-backup/cairn/pkg/repo/repotest"
)

// fixture is the shared repository fixture; this package's tests add
// their own helpers as methods.
type fixture struct{ *repotest.Fixture }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return &fixture{repotest.NewFixture(t)}
}

// openOn opens the fixture's repository through store (a wrapper of
// f.Store), as a later run would.
func (f *fixture) openOn(store storage.Store) *repo.Repository {
	f.T.Helper()
	r, err := repo.Open(f.Ctx, store, []byte(repotest.Passphrase), repo.OpenOptions{Host: "test"})
	if err != nil {
		f.T.Fatal(err)
	}
	f.T.Cleanup(func() { r.Close() })
	return r
}
