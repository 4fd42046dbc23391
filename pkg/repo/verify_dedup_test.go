package repo

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
)

// forgeClaim plays a key holder with create-only access: it stores a pack of
// garbage whose authenticated header lists blob id, and an index object
// pointing at it, so that other clients believe id is stored.
func forgeClaim(t *testing.T, r *Repository, id crypto.ID, length int) crypto.ID {
	t.Helper()
	ctx := context.Background()
	var b pack.Builder
	b.Add(pack.DataBlob, id, bytes.Repeat([]byte{0xee}, length), length)
	data, entries := b.Finish(r.keys)
	pid := crypto.Hash(data)
	if err := r.store.Put(ctx, PackName(pid), data); err != nil {
		t.Fatal(err)
	}
	e := entries[0]
	body := index.Encode([]index.Entry{{ID: e.ID, Type: e.Type, Pack: pid, Offset: e.Offset, Length: e.Length}}, nil)
	if _, err := r.SaveObject(ctx, KindIndex, body); err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestVerifyExistingRefusesForgedClaims: with VerifyExisting, a backup
// that meets a forged index entry reads it, refuses it with a warning naming
// the pack, and stores the blob itself, so the data restores; without it,
// the claim is believed (the documented cost of trusting key holders).
func TestVerifyExistingRefusesForgedClaims(t *testing.T) {
	ctx := context.Background()
	for _, verify := range []bool{false, true} {
		store, owner := newTestRepo(t, testInitOptions())
		attacker := openTestRepo(t, createonly.New(store), OpenOptions{})
		content := bytes.Repeat([]byte("precious data "), 1000)
		id := owner.keys.BlobID(content)
		forged := forgeClaim(t, attacker, id, 200)

		var mu sync.Mutex
		var warned []string
		r := openTestRepo(t, store, OpenOptions{Warn: func(name string, err error) {
			mu.Lock()
			warned = append(warned, name)
			mu.Unlock()
		}})
		if err := r.LoadIndex(ctx); err != nil {
			t.Fatal(err)
		}
		s := r.NewSaver(ctx, SaverOptions{VerifyExisting: verify})
		added, err := s.SaveBlobID(ctx, pack.DataBlob, id, content)
		if err != nil {
			t.Fatal(err)
		}
		// A second save of the same blob in the run reads nothing more.
		if _, err := s.SaveBlobID(ctx, pack.DataBlob, id, content); err != nil {
			t.Fatal(err)
		}
		stats, err := s.Flush(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if added != verify {
			t.Fatalf("verify=%v: blob stored again = %v", verify, added)
		}
		reader := openTestRepo(t, store, OpenOptions{})
		if err := reader.LoadIndex(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := reader.LoadBlob(ctx, pack.DataBlob, id)
		if verify {
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("verify=true: blob does not restore: %v", err)
			}
			if stats.BlobsRefused != 1 || len(warned) != 1 || warned[0] != PackName(forged) {
				t.Fatalf("verify=true: refused %d, warnings %v; want one naming %s", stats.BlobsRefused, warned, PackName(forged))
			}
		} else if err == nil {
			t.Fatal("verify=false: the forged claim restored; the test does not forge what it should")
		}
	}
}

// TestVerifyExistingTrustsGoodCopiesOnce: a genuine stored copy is read
// once per run and then deduplicated against.
func TestVerifyExistingTrustsGoodCopiesOnce(t *testing.T) {
	ctx := context.Background()
	store, owner := newTestRepo(t, testInitOptions())
	content := []byte("stored by an earlier backup")
	s := owner.NewSaver(ctx, SaverOptions{})
	id, err := s.SaveBlob(ctx, pack.DataBlob, content)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	counting := newCountingStore(store)
	r := openTestRepo(t, counting, OpenOptions{})
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	before := counting.count("data")
	s2 := r.NewSaver(ctx, SaverOptions{VerifyExisting: true})
	for range 3 {
		if added, err := s2.SaveBlobID(ctx, pack.DataBlob, id, content); err != nil || added {
			t.Fatalf("genuine copy: added %v, err %v", added, err)
		}
	}
	stats, err := s2.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if reads := counting.count("data") - before; reads != 1 || stats.BlobsVerified != 1 {
		t.Fatalf("pack reads %d, verified %d; want 1 and 1", reads, stats.BlobsVerified)
	}
}
