package copy

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// TestSameChunkingDestinationKeepsItsOwnKey: a destination made with
// ChunkerFrom chunks alike, yet neither passphrase opens the other
// repository and what the destination seals stays its own after a copy.
func TestSameChunkingDestinationKeepsItsOwnKey(t *testing.T) {
	ctx := context.Background()
	f := repotest.NewFixture(t)
	a, _ := backupTwo(f)
	d := newDest(t, f.Repo, true)
	if !SameChunking(f.Repo, d.repo) {
		t.Fatal("a ChunkerFrom destination does not chunk as its source")
	}
	if _, err := repo.Open(ctx, d.store, []byte(repotest.Passphrase), repo.OpenOptions{}); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Fatalf("the source's passphrase on the destination: %v, want a wrong passphrase", err)
	}
	if _, err := repo.Open(ctx, f.Store, []byte("other passphrase"), repo.OpenOptions{}); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Fatalf("the destination's passphrase on the source: %v, want a wrong passphrase", err)
	}
	res, err := Copy(ctx, f.Open(), d.repo, Options{Refs: []string{a.String()}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != ModeBlobs || res.Total.FilesRechunked != 0 || res.Total.DataStored == 0 {
		t.Fatalf("%s, %+v: re-chunked between repositories that chunk alike", res.Mode, res.Total)
	}
	// The copied snapshot is sealed under the destination's key only.
	dst := d.open()
	e := snapshots(t, dst)[0]
	sealed, err := storage.ReadAll(ctx, d.store, repo.ObjectName(repo.KindSnapshot, e.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Repo.Keys().Open(nil, sealed, []byte("cairn 1 snapshot")); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("the source's keys open the destination's snapshot: %v", err)
	}
	if _, err := dst.Keys().Open(nil, sealed, []byte("cairn 1 snapshot")); err != nil {
		t.Errorf("the destination's keys do not open its own snapshot: %v", err)
	}
	if _, err := snapshot.Find(ctx, dst, e.ID.String(), snapshot.Filter{}); err != nil {
		t.Fatal(err)
	}
}

// TestSameParamsOtherKeysIsNotSameChunking: equal chunker parameters are
// not enough; the chunker and content-ID keys decide too.
func TestSameParamsOtherKeysIsNotSameChunking(t *testing.T) {
	f := repotest.NewFixture(t)
	r, err := repo.Init(context.Background(), mem.New(), []byte("p"), repo.InitOptions{KDF: crypto.TestKDF(), Chunker: f.Repo.Config().Chunker})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Config().Chunker != f.Repo.Config().Chunker {
		t.Fatal("chunker parameters differ")
	}
	if SameChunking(f.Repo, r) {
		t.Error("repositories with their own keys chunk alike")
	}
}
