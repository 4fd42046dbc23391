package prune

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
)

// packIDs lists the packs in the store.
func (f *fixture) packIDs() []crypto.ID {
	f.T.Helper()
	var out []crypto.ID
	if err := f.Open().ListPacks(f.Ctx, func(id crypto.ID, _ int64) error {
		out = append(out, id)
		return nil
	}); err != nil {
		f.T.Fatal(err)
	}
	return out
}

// sealPack builds a pack of blob area area whose authenticated header lists
// entries, exactly as FORMAT.md lays it out: what a key holder can write.
func sealPack(keys *crypto.Keys, area []byte, entries []pack.Entry) []byte {
	body := []byte{0}
	body = append(body, "CAIRNPK1"...)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(entries)))
	for _, e := range entries {
		body = append(body, byte(e.Type))
		body = append(body, e.ID[:]...)
		body = binary.LittleEndian.AppendUint32(body, e.Offset)
		body = binary.LittleEndian.AppendUint32(body, e.Length)
	}
	out := keys.Seal(slices.Clone(area), body, []byte("cairn 1 pack header"))
	return binary.LittleEndian.AppendUint32(out, uint32(len(out)-len(area)))
}

// plant plays the attacker with the passphrase and create-only access: one
// pack whose header lists every blob of the repository (at offset 0, or at
// contiguous offsets over garbage) and one index object pointing at it. It
// returns the planted pack.
func (f *fixture) plant(atOffsetZero bool) crypto.ID {
	f.T.Helper()
	atk := f.on(createonly.New(f.Store)).Repo
	if err := atk.LoadIndex(f.Ctx); err != nil {
		f.T.Fatal(err)
	}
	var all []index.Entry
	seen := make(map[blobKey]bool)
	_ = atk.Index().Each(func(e index.Entry) error {
		if k := (blobKey{e.ID, e.Type}); !seen[k] {
			seen[k] = true
			all = append(all, e)
		}
		return nil
	})
	var entries []pack.Entry
	var area []byte
	for _, e := range all {
		pe := pack.Entry{Type: e.Type, ID: e.ID, Length: e.Length}
		if atOffsetZero {
			if int(e.Length) > len(area) {
				area = append(area, make([]byte, int(e.Length)-len(area))...)
			}
		} else {
			pe.Offset = uint32(len(area))
			garbage := repotest.Content(uint64(len(area)), int(e.Length))
			area = append(area, garbage...)
		}
		entries = append(entries, pe)
	}
	data := sealPack(atk.Keys(), area, entries)
	id := crypto.Hash(data)
	if err := f.Store.Put(f.Ctx, repo.PackName(id), data); err != nil {
		f.T.Fatal(err)
	}
	var idx []index.Entry
	for _, e := range entries {
		idx = append(idx, index.Entry{ID: e.ID, Type: e.Type, Pack: id, Offset: e.Offset, Length: e.Length})
	}
	if _, err := atk.SaveObject(f.Ctx, repo.KindIndex, index.Encode(idx, nil)); err != nil {
		f.T.Fatal(err)
	}
	return id
}

// TestPlantedPackDeletesNothingReal is issue 10's attack: a key holder
// with create-only access plants a pack claiming every blob, and the
// owner's routine prune (nothing forgotten) used to delete every real
// pack. Now nothing real goes, every snapshot restores, and the planted
// pack is named.
func TestPlantedPackDeletesNothingReal(t *testing.T) {
	for _, tc := range []struct {
		name         string
		atOffsetZero bool
	}{{"every blob at offset 0", true}, {"contiguous garbage", false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 5000), "/b": repotest.Content(2, 4000)})
			f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 4000), "/c": repotest.Content(3, 6000)})
			real := f.packIDs()
			if len(real) < 4 {
				t.Fatalf("only %d packs; the test needs more", len(real))
			}
			planted := f.plant(tc.atOffsetZero)

			for round := range 2 {
				stats := mustPrune(t, f.Open(), Options{})
				if round == 0 && !slices.Contains(stats.BadPacks, repo.PackName(planted)) {
					t.Errorf("planted pack %s not reported: bad packs %v", planted.Short(), stats.BadPacks)
				}
				now := f.packIDs()
				for _, pk := range real {
					if !slices.Contains(now, pk) {
						t.Errorf("round %d: real pack %s was deleted (stats %+v)", round, pk.Short(), stats)
					}
				}
				for _, pk := range now {
					if pk != planted && !slices.Contains(real, pk) {
						t.Errorf("round %d: prune wrote pack %s, though nothing needed repacking", round, pk.Short())
					}
				}
				f.verifyAll()
			}
			f.checkOK()
		})
	}
}
