package repo

import (
	"context"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// fuzzRepo is a repository with fixed keys for fuzzing; no store needed.
func fuzzRepo(f *testing.F) *Repository {
	var mk crypto.MasterKey
	for i := range mk {
		mk[i] = byte(i)
	}
	cfg, err := newConfig(InitOptions{}, utcNow())
	if err != nil {
		f.Fatal(err)
	}
	r, err := newRepository(mem.New(), cfg, mk, crypto.DeriveKeys(mk), OpenOptions{})
	if err != nil {
		f.Fatal(err)
	}
	return r
}

// FuzzLoadObject feeds arbitrary stored bytes to the envelope reader (name
// check skipped by naming the input after its hash, so the fuzzer reaches
// decryption and decompression). It must never panic, and anything that
// opens must have been sealed under the key.
func FuzzLoadObject(f *testing.F) {
	r := fuzzRepo(f)
	f.Add([]byte{}, uint8(0))
	f.Add(r.sealEnvelope(KindSnapshot, []byte(`{"version":1}`)), uint8(0))
	f.Add(r.sealEnvelope(KindIndex, make([]byte, 200)), uint8(1))
	f.Add(r.keys.Seal(nil, []byte{1, 0x28, 0xb5, 0x2f, 0xfd}, envelopeAD(KindLease)), uint8(2))
	f.Add(r.keys.Seal(nil, []byte{7}, envelopeAD(KindDeletion)), uint8(3))
	kinds := []string{KindSnapshot, KindIndex, KindLease, KindDeletion}
	f.Fuzz(func(t *testing.T, stored []byte, k uint8) {
		kind := kinds[int(k)%len(kinds)]
		_, _ = r.openObject(kind, crypto.Hash(stored), stored)
		if _, err := r.openObject(kind, crypto.ID{}, stored); err == nil && crypto.Hash(stored) != (crypto.ID{}) {
			t.Fatal("an object opened under the wrong name")
		}
		_, _ = openConfig(r.keys, stored)
	})
}

// FuzzOpenBlob checks that arbitrary sealed blobs never panic OpenBlob.
func FuzzOpenBlob(f *testing.F) {
	r := fuzzRepo(f)
	id := r.keys.BlobID([]byte("blob"))
	f.Add(pack.SealBlob(r.keys, nil, pack.DataBlob, id, []byte("\x00blob")))
	f.Add(pack.SealBlob(r.keys, nil, pack.DataBlob, id, []byte("\x01garbage")))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, sealed []byte) {
		if plain, err := r.OpenBlob(pack.DataBlob, id, sealed); err == nil && string(plain) != "blob" {
			t.Fatalf("opened %q as blob %s", plain, id.Short())
		}
	})
}

// FuzzReadPackHeader stores arbitrary bytes as a pack and reads its header.
func FuzzReadPackHeader(f *testing.F) {
	r := fuzzRepo(f)
	var b pack.Builder
	id := r.keys.BlobID([]byte("x"))
	b.Add(pack.DataBlob, id, pack.SealBlob(r.keys, nil, pack.DataBlob, id, []byte("\x00x")))
	p, _ := b.Finish(r.keys)
	f.Add(p)
	f.Add([]byte{1, 2, 3, 4})
	f.Add([]byte{})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		pid := crypto.Hash(data)
		if err := r.store.Put(ctx, PackName(pid), data); err != nil {
			t.Fatal(err)
		}
		entries, _, err := r.ReadPackHeader(ctx, pid)
		if err == nil {
			for _, e := range entries {
				if int64(e.Offset)+int64(e.Length) > int64(len(data)) {
					t.Fatalf("entry %+v outside a %d-byte pack", e, len(data))
				}
			}
		}
		_ = r.store.Delete(ctx, PackName(pid))
	})
}
