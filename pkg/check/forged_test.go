package check

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
)

// chunkIDs returns the blob IDs the fixture's backups give data.
func (f *fixture) chunkIDs(data []byte) []crypto.ID {
	var ids []crypto.ID
	for off := 0; off < len(data); off += repotest.ChunkSize {
		ids = append(ids, f.Repo.Keys().BlobID(data[off:min(off+repotest.ChunkSize, len(data))]))
	}
	return ids
}

// plantAuthentic plays a key holder with create-only access who claims
// ids with a Saver of their own: the packs and their headers are authentic,
// but each blob holds garbage under the claimed ID.
func (f *fixture) plantAuthentic(ids []crypto.ID) {
	f.T.Helper()
	attacker := f.openOn(createonly.New(f.Store))
	if err := attacker.LoadIndex(f.Ctx); err != nil {
		f.T.Fatal(err)
	}
	saver := attacker.NewSaver(f.Ctx, repo.SaverOptions{})
	for i, id := range ids {
		if _, err := saver.SaveBlobID(f.Ctx, pack.DataBlob, id, repotest.Content(uint64(900+i), 1200)); err != nil {
			f.T.Fatal(err)
		}
	}
	if _, err := saver.Flush(f.Ctx); err != nil {
		f.T.Fatal(err)
	}
}

// plantGarbage plays the same attacker with less effort: a pack of random
// bytes (named by its hash, so the name checks out) and an authentic index
// object that places ids in it.
func (f *fixture) plantGarbage(ids []crypto.ID) {
	f.T.Helper()
	store := createonly.New(f.Store)
	junk := repotest.Content(999, 5000)
	p := crypto.Hash(junk)
	if err := store.Put(f.Ctx, repo.PackName(p), junk); err != nil {
		f.T.Fatal(err)
	}
	var entries []index.Entry
	for i, id := range ids {
		entries = append(entries, index.Entry{ID: id, Type: pack.DataBlob, Pack: p, Offset: uint32(i * 1000), Length: 900})
	}
	attacker := f.openOn(store)
	if _, err := attacker.SaveObject(f.Ctx, repo.KindIndex, index.Encode(entries, nil)); err != nil {
		f.T.Fatal(err)
	}
}

// TestForgedClaimsAreNamed: a key holder with create-only access claims a
// file's chunk IDs in packs of garbage; the owner's next backup
// deduplicates against the claims and stores none of that file's data.
// check --read-data, and the --read-data-subset round that reads the forged
// packs, name exactly that file.
func TestForgedClaimsAreNamed(t *testing.T) {
	for _, plant := range []struct {
		name string
		do   func(f *fixture, ids []crypto.ID)
	}{
		{"authentic headers, garbage blobs", (*fixture).plantAuthentic},
		{"garbage pack", (*fixture).plantGarbage},
	} {
		t.Run(plant.name, func(t *testing.T) {
			f := newFixture(t)
			f.Backup(f.Repo, repotest.T0, map[string][]byte{"/etc/hosts": repotest.Content(1, 3000)})
			secret := repotest.Content(77, 6000)
			ids := f.chunkIDs(secret)
			plant.do(f, ids)

			owner := f.Open()
			if err := owner.LoadIndex(f.Ctx); err != nil {
				t.Fatal(err)
			}
			s := f.Backup(owner, repotest.T0.Add(time.Hour), map[string][]byte{
				"/home/u/secret.doc": secret,
				"/home/u/own":        repotest.Content(78, 2000),
			})
			// The attack worked: the owner stored no copy of its own.
			forged := make(map[crypto.ID]bool)
			after := f.Open()
			if err := after.LoadIndex(f.Ctx); err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				locs := after.Index().LookupAll(id)
				if len(locs) != 1 {
					t.Fatalf("blob %s has %d locations; the owner's backup did not deduplicate against the claim", id.Short(), len(locs))
				}
				forged[locs[0].Pack] = true
			}
			want := []string{s.Short() + ":/home/u/secret.doc"}

			rep := mustCheck(t, f.Open(), Options{ReadData: true})
			if rep.OK() {
				t.Fatal("check --read-data passes with forged claims")
			}
			if got := reported(rep); !slices.Equal(got, want) {
				t.Errorf("affected %v, want %v\nerrors:\n%s", got, want, strings.Join(rep.Errors, "\n"))
			}
			if !rep.Complete() {
				t.Errorf("forged content reported as unreadable: %v", rep.Unreadable)
			}

			const m = 4
			union := make(map[string]bool)
			for n := 1; n <= m; n++ {
				rep := mustCheck(t, f.Open(), Options{Subset: fmt.Sprintf("%d/%d", n, m)})
				holds := false
				for p := range forged {
					holds = holds || int(p[0])%m == n-1
				}
				got := reported(rep)
				if holds && !slices.Equal(got, want) {
					t.Errorf("subset %d/%d reads a forged pack but names %v, want %v", n, m, got, want)
				}
				for _, a := range got {
					union[a] = true
				}
			}
			if len(union) != 1 || !union[want[0]] {
				t.Errorf("subsets 1/%d…%d/%d name %v, want %v", m, m, m, union, want)
			}
		})
	}
}

// TestIndexDisagreeingWithHeaderSaysRepair: an index entry that the pack's
// header contradicts is reported with the advice to rebuild the index.
func TestIndexDisagreeingWithHeaderSaysRepair(t *testing.T) {
	f := newFixture(t)
	twoSnapshots(f)
	var real index.Entry
	_ = f.Repo.Index().Each(func(e index.Entry) error {
		real = e
		return errStop
	})
	bogus := real
	bogus.Offset++
	bogus.Length--
	if _, err := f.openOn(createonly.New(f.Store)).SaveObject(f.Ctx, repo.KindIndex, index.Encode([]index.Entry{bogus}, nil)); err != nil {
		t.Fatal(err)
	}
	rep := mustCheck(t, f.Open(), Options{})
	all := strings.Join(rep.Errors, "\n")
	if rep.OK() || !strings.Contains(all, real.Pack.String()) || !strings.Contains(all, "run cairn repair index") {
		t.Errorf("index and header disagree, errors:\n%s", all)
	}
	// The real entry is intact, so no blob is lost.
	if len(rep.DamagedBlobs) != 0 || len(rep.Affected) != 0 {
		t.Errorf("a false extra entry makes blobs lost: %v %v", rep.DamagedBlobs, rep.Affected)
	}
}

var errStop = fmt.Errorf("stop")
