package prune

import (
	"context"
	"testing"

	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// fixture is the shared repository fixture; this package's tests add
// their own helpers as methods.
type fixture struct{ *repotest.Fixture }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return &fixture{repotest.NewFixture(t)}
}

// on returns a fixture for the same repository content in another store.
func (f *fixture) on(store storage.Store) *fixture {
	g := *f.Fixture
	g.Store = store
	g.Repo = g.Open()
	return &fixture{&g}
}

// cloneStore copies every object of src into a new memory store.
func cloneStore(t *testing.T, src storage.Store) *mem.Store {
	t.Helper()
	ctx := context.Background()
	dst := mem.New()
	err := src.List(ctx, "", func(oi storage.ObjectInfo) error {
		data, err := storage.ReadAll(ctx, src, oi.Name)
		if err != nil {
			return err
		}
		return dst.Put(ctx, oi.Name, data)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// objectNames lists every object name in the store.
func objectNames(t *testing.T, s storage.Store) []string {
	t.Helper()
	var out []string
	if err := s.List(context.Background(), "", func(oi storage.ObjectInfo) error {
		out = append(out, oi.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
