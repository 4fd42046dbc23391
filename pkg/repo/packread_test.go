package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
)

// packFixture stores one pack of n blobs and returns its ID, entries and
// plaintexts.
func packFixture(t *testing.T, r *Repository, n int) (crypto.ID, []index.Entry, map[crypto.ID][]byte) {
	t.Helper()
	var b pack.Builder
	plain := make(map[crypto.ID][]byte)
	for i := range n {
		data := bytes.Repeat([]byte(fmt.Sprintf("blob %d ", i)), 100+i)
		id := r.keys.BlobID(data)
		plain[id] = data
		b.Add(pack.DataBlob, id, pack.EncodeBlob(r.enc, r.keys, nil, pack.DataBlob, id, data), len(data))
	}
	data, hes := b.Finish(r.keys)
	pid := crypto.Hash(data)
	rawPut(t, r.store, PackName(pid), data)
	es := make([]index.Entry, len(hes))
	for i, e := range hes {
		es[i] = index.Entry{ID: e.ID, Type: e.Type, Pack: pid, Offset: e.Offset, Length: e.Length}
	}
	return pid, es, plain
}

type outcome struct{ ok, damaged, unreachable int }

func loadAll(t *testing.T, r *Repository, pid crypto.ID, es []index.Entry, plain map[crypto.ID][]byte, whole bool) (outcome, error) {
	t.Helper()
	var o outcome
	err := r.LoadPackBlobs(context.Background(), pid, es, PackReadOptions{WholePack: whole}, func(e index.Entry, p []byte, err error) error {
		switch {
		case err == nil:
			if !bytes.Equal(p, plain[e.ID]) {
				t.Fatalf("blob %s: wrong plaintext", e.ID.Short())
			}
			o.ok++
		case errors.Is(err, ErrCorrupt):
			o.damaged++
		default:
			o.unreachable++
		}
		return nil
	})
	return o, err
}

// TestLoadPackBlobsClassifies: intact blobs load in any entry order; a cut
// connection is a storage failure, never damage; a flipped byte, a false
// entry and a truncated pack are damage.
func TestLoadPackBlobsClassifies(t *testing.T) {
	_, owner := newTestRepo(t, testInitOptions())
	pid, es, plain := packFixture(t, owner, 5)
	reversed := []index.Entry{es[4], es[3], es[2], es[1], es[0]}

	for _, whole := range []bool{false, true} {
		o, err := loadAll(t, owner, pid, reversed, plain, whole)
		if err != nil || o.ok != 5 {
			t.Fatalf("whole=%v intact: %+v %v", whole, o, err)
		}
	}

	fs := fault.New(owner.store)
	r := openTestRepo(t, fs, OpenOptions{})
	fs.ShortRead("data/", int64(es[2].Offset)+10)
	o, err := loadAll(t, r, pid, es, plain, false)
	if err != nil || o.ok != 2 || o.unreachable != 3 || o.damaged != 0 {
		t.Fatalf("cut connection: %+v %v; want 2 ok, 3 unreachable, none damaged", o, err)
	}
	o, err = loadAll(t, r, pid, es, plain, true)
	if err == nil || errors.Is(err, ErrCorrupt) || o.damaged != 0 {
		t.Fatalf("cut connection, whole pack: %+v %v; want a storage error, no damage", o, err)
	}

	fs.Clear()
	fs.Corrupt("data/", int64(es[1].Offset)+30)
	o, err = loadAll(t, r, pid, es, plain, true)
	if o.ok != 4 || o.damaged != 1 || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped byte: %+v %v; want 4 ok, 1 damaged, pack hash mismatch", o, err)
	}

	// A false entry (a forged index): past the end, and overlapping.
	fs.Clear()
	beyond := es[4]
	beyond.Offset += 1 << 20
	overlap := es[1]
	overlap.Offset = es[0].Offset + 5
	o, err = loadAll(t, r, pid, []index.Entry{es[0], overlap, beyond}, plain, false)
	if err != nil || o.ok != 1 || o.damaged != 2 {
		t.Fatalf("false entries: %+v %v; want 1 ok, 2 damaged", o, err)
	}
}

// Blobs are decrypted where they were read unless a later entry of the
// same run needs the same bytes (an index listing a blob twice, or a
// forged entry inside another): then the bytes are kept, and every entry
// gets its blob, or damage, whatever came before it.
func TestLoadPackBlobsSameBytesTwice(t *testing.T) {
	_, r := newTestRepo(t, testInitOptions())
	pid, es, plain := packFixture(t, r, 3)
	inside := es[1]
	inside.Offset, inside.Length = es[0].Offset+5, es[0].Length-10
	for _, whole := range []bool{false, true} {
		o, err := loadAll(t, r, pid, []index.Entry{es[0], es[0], es[1], es[1], es[2]}, plain, whole)
		if err != nil || o.ok != 5 {
			t.Fatalf("whole=%v, blobs listed twice: %+v %v; want 5 ok", whole, o, err)
		}
		o, err = loadAll(t, r, pid, []index.Entry{es[0], inside, es[0], es[2]}, plain, whole)
		if o.ok != 3 || o.damaged != 1 {
			t.Fatalf("whole=%v, an entry inside another: %+v %v; want 3 ok, 1 damaged", whole, o, err)
		}
		// An entry too short for a nonce, decrypted in place: damage.
		short := es[2]
		short.Length = crypto.NonceSize - 4
		o, err = loadAll(t, r, pid, []index.Entry{es[0], short}, plain, whole)
		if o.ok != 1 || o.damaged != 1 {
			t.Fatalf("whole=%v, an entry shorter than a nonce: %+v %v; want 1 ok, 1 damaged", whole, o, err)
		}
	}
}
