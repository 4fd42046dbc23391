package prune

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
)

// skippingRepo is a repository that passed over an object while listing.
type skippingRepo struct {
	*repo.Repository
	skipped repo.SkippedObject
}

func (r skippingRepo) Skipped() []repo.SkippedObject {
	return append(r.Repository.Skipped(), r.skipped)
}

// deletedBy runs prune and returns the objects it deleted, and its error.
func (f *fixture) deletedBy(r Repo, opts Options) ([]string, error) {
	f.T.Helper()
	before := objectNames(f.T, f.Store)
	_, err := Prune(f.Ctx, r, opts)
	after := objectNames(f.T, f.Store)
	var gone []string
	for _, name := range before {
		if !slices.Contains(after, name) {
			gone = append(gone, name)
		}
	}
	return gone, err
}

// TestUnreadableObjectStopsPrune: with a snapshot or index object it cannot
// read, prune deletes nothing (a snapshot it did not see may need any
// pack) and names the object.
func TestUnreadableObjectStopsPrune(t *testing.T) {
	setup := func(t *testing.T) *fixture {
		f := newFixture(t)
		s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 6000)})
		f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 3000)})
		f.forget(s1)
		return f
	}
	t.Run("skipped", func(t *testing.T) {
		for _, kind := range []string{repo.KindSnapshot, repo.KindIndex} {
			f := setup(t)
			name := repo.ObjectName(kind, crypto.Hash([]byte("junk")))
			r := skippingRepo{f.Open(), repo.SkippedObject{Name: name, Err: errors.New("4 bytes, not an envelope")}}
			gone, err := f.deletedBy(r, Options{})
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "not an envelope") {
				t.Errorf("%s: prune error %v does not name %s and why", kind, err, name)
			}
			if len(gone) != 0 {
				t.Errorf("%s: prune deleted %v", kind, gone)
			}
			f.verifyAll()
		}
	})
	for _, kind := range []string{repo.KindSnapshot, repo.KindIndex} {
		t.Run("junk "+kind, func(t *testing.T) {
			f := setup(t)
			// No passphrase needed: four bytes.
			junk := []byte("junk")
			name := repo.ObjectName(kind, crypto.Hash(junk))
			if err := createonly.New(f.Store).Put(f.Ctx, name, junk); err != nil {
				t.Fatal(err)
			}
			gone, err := f.deletedBy(f.Open(), Options{})
			if err == nil || !strings.Contains(err.Error(), crypto.Hash(junk).String()[:8]) {
				t.Errorf("prune error %v does not name %s", err, name)
			}
			if len(gone) != 0 {
				t.Errorf("prune deleted %v", gone)
			}
		})
	}
}

// TestMisplacingIndexMakesPackBad: an index object (a key holder's) that
// places a blob in a real pack where its header does not: that pack is
// reported and never kept as the copy, and nothing real is deleted.
func TestMisplacingIndexMakesPackBad(t *testing.T) {
	f := newFixture(t)
	f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 5000)})
	s2 := f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 3000)})
	real := f.packIDs()
	victim := f.PacksOf(f.Repo, s2, "/b")[0]
	atk := f.on(createonly.New(f.Store)).Repo
	if err := atk.LoadIndex(f.Ctx); err != nil {
		t.Fatal(err)
	}
	var claims []index.Entry
	_ = atk.Index().Each(func(e index.Entry) error {
		if e.Pack != victim {
			claims = append(claims, index.Entry{ID: e.ID, Type: e.Type, Pack: victim, Offset: 0, Length: e.Length})
		}
		return nil
	})
	if _, err := atk.SaveObject(f.Ctx, repo.KindIndex, index.Encode(claims, nil)); err != nil {
		t.Fatal(err)
	}
	stats := mustPrune(t, f.Open(), Options{})
	if !slices.Equal(stats.BadPacks, []string{repo.PackName(victim)}) {
		t.Errorf("bad packs %v, want only %s", stats.BadPacks, victim.Short())
	}
	now := f.packIDs()
	for _, pk := range real {
		if !slices.Contains(now, pk) {
			t.Errorf("real pack %s was deleted: %+v", pk.Short(), stats)
		}
	}
	f.verifyAll()
}
