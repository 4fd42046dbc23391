package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
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

// fuzzStore puts sealed under its content name in a fresh repository that
// shares r's keys, so each input starts from an empty store.
func fuzzStore(t *testing.T, r *Repository, kind string, sealed []byte) (*Repository, crypto.ID) {
	fresh, err := newRepository(mem.New(), r.cfg, r.master, r.keys, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := crypto.Hash(sealed)
	if err := fresh.store.Put(context.Background(), ObjectName(kind, id), sealed); err != nil {
		t.Fatal(err)
	}
	return fresh, id
}

// FuzzEnvelope seals the fuzzer's input (compression byte and body) as an
// envelope of each kind under the test key and loads it through the
// repository's own readers, so decompression and every body decoder see
// what a key holder with create-only access could store. Nothing may panic,
// and an accepted lease or deletion marker must re-encode.
func FuzzEnvelope(f *testing.F) {
	r := fuzzRepo(f)
	f.Add([]byte("\x00{\"version\":1}"), uint8(0))
	f.Add(append([]byte{0}, index.Encode([]index.Entry{{ID: crypto.ID{1}, Type: pack.DataBlob, Pack: crypto.ID{2}, Offset: 0, Length: 50}}, []crypto.ID{{3}})...), uint8(1))
	f.Add([]byte("\x00{\"run\":\"ab\",\"seen_deletions\":[\"00\"]}"), uint8(2))
	f.Add([]byte("\x00{\"packs\":[\"0000000000000000000000000000000000000000000000000000000000000000\"]}"), uint8(3))
	f.Add([]byte{1, 0x28, 0xb5, 0x2f, 0xfd, 0, 0}, uint8(2))
	f.Add(pack.Compress(r.enc, nil, bytes.Repeat([]byte("{}"), 5000)), uint8(0))
	f.Add([]byte{}, uint8(4))
	kinds := []string{KindSnapshot, KindIndex, KindLease, KindDeletion, "config"}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, payload []byte, k uint8) {
		kind := kinds[int(k)%len(kinds)]
		sealed := r.keys.Seal(nil, payload, envelopeAD(kind))
		if kind == "config" {
			_, _ = openConfig(r.keys, sealed)
			return
		}
		fr, id := fuzzStore(t, r, kind, sealed)
		defer fr.Close()
		switch kind {
		case KindSnapshot:
			_, _ = fr.LoadObject(ctx, kind, id)
		case KindIndex:
			if err := fr.LoadIndex(ctx); err == nil {
				_ = fr.Index().Each(func(e index.Entry) error { return nil })
			}
		case KindLease:
			if rec, err := fr.LoadLease(ctx, id); err == nil {
				if _, err := json.Marshal(rec); err != nil {
					t.Fatalf("accepted lease does not re-encode: %v", err)
				}
			}
		case KindDeletion:
			if d, err := fr.LoadDeletion(ctx, id); err == nil {
				if _, err := json.Marshal(d); err != nil {
					t.Fatalf("accepted deletion marker does not re-encode: %v", err)
				}
			}
		}
		// The same bytes under another name never open.
		if _, err := fr.LoadObject(ctx, kind, crypto.Hash(append(sealed, 0))); err == nil {
			t.Fatal("an object opened under the wrong name")
		}
	})
}

// FuzzPack builds a pack from the fuzzer's blob area and header plaintext,
// sealing the header under the test key, and reads it as restore and check
// do: ReadPackHeader, then LoadPackBlobs over the entries it accepted, whole
// and ranged. Accepted entries lie inside the pack; a blob that opens is
// the one its ID names.
func FuzzPack(f *testing.F) {
	r := fuzzRepo(f)
	var b pack.Builder
	id := r.keys.BlobID([]byte("x"))
	b.Add(pack.DataBlob, id, pack.SealBlob(r.keys, nil, pack.DataBlob, id, []byte("\x00x")), 1)
	p, entries := b.Finish(r.keys)
	area := p[:entries[0].Length]
	hdr := []byte{0}
	hdr = append(hdr, "CAIRNPK1"...)
	hdr = binary.LittleEndian.AppendUint32(hdr, 1)
	hdr = append(hdr, byte(pack.DataBlob))
	hdr = append(hdr, id[:]...)
	hdr = binary.LittleEndian.AppendUint32(hdr, 0)
	hdr = binary.LittleEndian.AppendUint32(hdr, entries[0].Length)
	f.Add(area, hdr)
	f.Add(area, hdr[:len(hdr)-2])
	// The same in a format 1.1 header, which records plaintext lengths.
	hdr2 := []byte{0}
	hdr2 = append(hdr2, "CAIRNPK2"...)
	hdr2 = append(hdr2, hdr[1+8:]...)
	hdr2 = binary.LittleEndian.AppendUint32(hdr2, 1)
	f.Add(area, hdr2)
	f.Add(append(bytes.Clone(area), area...), hdr)
	f.Add([]byte{}, []byte{0})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, area, header []byte) {
		sealed := r.keys.Seal(nil, header, []byte("cairn 1 pack header"))
		data := append(bytes.Clone(area), sealed...)
		data = binary.LittleEndian.AppendUint32(data, uint32(len(sealed)))
		pid := crypto.Hash(data)
		fr, err := newRepository(mem.New(), r.cfg, r.master, r.keys, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer fr.Close()
		if err := fr.store.Put(ctx, PackName(pid), data); err != nil {
			t.Fatal(err)
		}
		hes, _, err := fr.ReadPackHeader(ctx, pid)
		if err != nil {
			return
		}
		es := make([]index.Entry, len(hes))
		for i, e := range hes {
			if int64(e.Offset)+int64(e.Length) > int64(len(data)) {
				t.Fatalf("entry %+v outside a %d-byte pack", e, len(data))
			}
			es[i] = index.Entry{ID: e.ID, Type: e.Type, Pack: pid, Offset: e.Offset, Length: e.Length}
		}
		for _, whole := range []bool{false, true} {
			n := 0
			err := fr.LoadPackBlobs(ctx, pid, es, PackReadOptions{WholePack: whole}, func(e index.Entry, plain []byte, err error) error {
				n++
				if err == nil && fr.keys.BlobID(plain) != e.ID {
					t.Fatalf("blob %s opened to content of another ID", e.ID.Short())
				}
				return nil
			})
			if err != nil {
				t.Fatalf("LoadPackBlobs (whole %v) of an intact pack: %v", whole, err)
			}
			if n != len(es) {
				t.Fatalf("LoadPackBlobs reported %d of %d entries", n, len(es))
			}
		}
	})
}
