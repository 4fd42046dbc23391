package repo

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// wantCorrupt fails unless err wraps ErrCorrupt and names the object.
func wantCorrupt(t *testing.T, what string, err error, name string) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
		t.Fatalf("%s: got %v, want an error wrapping ErrCorrupt that names %s", what, err, name)
	}
}

func TestTamperConfig(t *testing.T) {
	ctx := context.Background()
	store, _ := newTestRepo(t, testInitOptions())
	orig := rawGet(t, store, "config")
	for _, i := range positions(len(orig)) {
		rawPut(t, store, "config", flipped(orig, i))
		_, err := Open(ctx, store, testPass, OpenOptions{})
		wantCorrupt(t, "config byte "+strconv.Itoa(i), err, "config")
	}
	rawPut(t, store, "config", orig[:len(orig)-1])
	_, err := Open(ctx, store, testPass, OpenOptions{})
	wantCorrupt(t, "truncated config", err, "config")
}

func TestTamperKeyFile(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	name := ObjectName(KindKey, r.currentKey())
	orig := rawGet(t, store, name)
	for _, i := range positions(len(orig)) {
		rawPut(t, store, name, flipped(orig, i))
		_, err := Open(ctx, store, testPass, OpenOptions{})
		// Damage is never a wrong passphrase (exit 12 would send the
		// user hunting for a passphrase that is right).
		if errors.Is(err, crypto.ErrWrongPassphrase) || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
			t.Fatalf("key file byte %d: %v", i, err)
		}
	}
	// Even re-hashed under its new name, a changed key file does not open:
	// the wrapped master secret is authenticated.
	store.Delete(ctx, name)
	// A valid base64 digit for another: the file still decodes.
	mod := slices.Clone(orig)
	at := strings.Index(string(orig), `"data": "`) + 12
	mod[at] = map[bool]byte{true: 'B', false: 'A'}[mod[at] == 'A']
	rawPut(t, store, ObjectName(KindKey, crypto.Hash(mod)), mod)
	if _, err := Open(ctx, store, testPass, OpenOptions{}); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("re-hashed modified key file: %v", err)
	}
}

func TestTamperEnvelopes(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	bodies := map[string][]byte{
		KindSnapshot: []byte(`{"version":1,"paths":["/"]}`),
		KindIndex:    index.Encode([]index.Entry{{ID: crypto.ID{1}, Type: pack.DataBlob, Pack: crypto.ID{2}, Length: 50}}, nil),
		KindLease:    []byte(`{"run":"r"}`),
		KindDeletion: []byte(`{"packs":[]}`),
	}
	ids := map[string]crypto.ID{}
	for kind, body := range bodies {
		id, err := r.SaveObject(ctx, kind, body)
		if err != nil {
			t.Fatal(err)
		}
		ids[kind] = id
		name := ObjectName(kind, id)
		orig := rawGet(t, store, name)
		for _, i := range positions(len(orig)) {
			rawPut(t, store, name, flipped(orig, i))
			_, err := r.LoadObject(ctx, kind, id)
			wantCorrupt(t, name+" byte "+strconv.Itoa(i), err, name)
		}
		// Modified and stored under its new hash, it fails authentication.
		mod := flipped(orig, len(orig)/2)
		modID := crypto.Hash(mod)
		rawPut(t, store, ObjectName(kind, modID), mod)
		_, err = r.LoadObject(ctx, kind, modID)
		wantCorrupt(t, "re-hashed "+name, err, ObjectName(kind, modID))
		if !errors.Is(err, crypto.ErrAuth) {
			t.Errorf("re-hashed %s: %v, want authentication failure", name, err)
		}
		rawPut(t, store, name, orig)
	}

	// Swapping two objects' bytes is caught by the name check...
	snapA, _ := r.SaveObject(ctx, KindSnapshot, []byte(`{"a":1}`))
	snapB, _ := r.SaveObject(ctx, KindSnapshot, []byte(`{"b":2}`))
	a, b := rawGet(t, store, ObjectName(KindSnapshot, snapA)), rawGet(t, store, ObjectName(KindSnapshot, snapB))
	rawPut(t, store, ObjectName(KindSnapshot, snapA), b)
	rawPut(t, store, ObjectName(KindSnapshot, snapB), a)
	for _, id := range []crypto.ID{snapA, snapB} {
		_, err := r.LoadObject(ctx, KindSnapshot, id)
		wantCorrupt(t, "swapped snapshot", err, ObjectName(KindSnapshot, id))
	}
	// ...and an object presented as another kind under a matching name is
	// caught by the kind in the associated data.
	for kind, id := range ids {
		for _, other := range []string{KindSnapshot, KindIndex, KindLease, KindDeletion} {
			if other == kind {
				continue
			}
			data := rawGet(t, store, ObjectName(kind, id))
			rawPut(t, store, ObjectName(other, id), data)
			_, err := r.LoadObject(ctx, other, id)
			wantCorrupt(t, kind+" presented as "+other, err, ObjectName(other, id))
			store.Delete(ctx, ObjectName(other, id))
		}
	}
	// A snapshot presented as the config does not open either.
	rawPut(t, store, "config", rawGet(t, store, ObjectName(KindSnapshot, ids[KindSnapshot])))
	_, err := Open(ctx, store, testPass, OpenOptions{})
	wantCorrupt(t, "snapshot as config", err, "config")
}

// onePackRepo stores one blob and returns the store, the repository, the
// blob's ID and its pack's ID.
func onePackRepo(t *testing.T, data []byte) (*mem.Store, *Repository, crypto.ID, crypto.ID) {
	t.Helper()
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	s := r.NewSaver(ctx, SaverOptions{})
	id, err := s.SaveBlob(ctx, pack.DataBlob, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	e, ok := r.Index().Lookup(id)
	if !ok {
		t.Fatal("blob not indexed")
	}
	return store, r, id, e.Pack
}

func TestTamperPack(t *testing.T) {
	ctx := context.Background()
	data := []byte(strings.Repeat("some file content ", 20))
	store, r, id, packID := onePackRepo(t, data)
	name := PackName(packID)
	orig := rawGet(t, store, name)
	e, _ := r.Index().Lookup(id)
	blobEnd := int(e.Offset + e.Length)
	for _, i := range positions(len(orig)) {
		rawPut(t, store, name, flipped(orig, i))
		_, blobErr := r.LoadBlob(ctx, pack.DataBlob, id)
		_, _, headerErr := r.ReadPackHeader(ctx, packID)
		if i < blobEnd {
			wantCorrupt(t, "pack blob byte "+strconv.Itoa(i), blobErr, name)
			if headerErr != nil {
				t.Fatalf("byte %d of the blob broke the header: %v", i, headerErr)
			}
		} else {
			wantCorrupt(t, "pack header byte "+strconv.Itoa(i), headerErr, name)
		}
	}
	// Truncated packs.
	for _, n := range []int{0, 3, blobEnd, len(orig) - 1} {
		rawPut(t, store, name, orig[:n])
		_, _, err := r.ReadPackHeader(ctx, packID)
		wantCorrupt(t, "pack truncated to "+strconv.Itoa(n), err, name)
	}
	rawPut(t, store, name, orig[:blobEnd-1])
	_, err := r.LoadBlob(ctx, pack.DataBlob, id)
	wantCorrupt(t, "blob truncated", err, name)
	// Missing pack.
	store.Delete(ctx, name)
	if _, err := r.LoadBlob(ctx, pack.DataBlob, id); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), name) {
		t.Errorf("missing pack: %v", err)
	}
	rawPut(t, store, name, orig)
	// The wrong type is not found (the index says data).
	if _, err := r.LoadBlob(ctx, pack.TreeBlob, id); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("wrong type: %v", err)
	}
}

func TestBlobSwapDetected(t *testing.T) {
	ctx := context.Background()
	_, r, idA, _ := onePackRepo(t, []byte("blob A content"))
	s := r.NewSaver(ctx, SaverOptions{})
	idB, _ := s.SaveBlob(ctx, pack.DataBlob, []byte("blob B content"))
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A lying index points B at A's bytes; the AD binds the ID.
	r2 := openTestRepo(t, r.store, OpenOptions{})
	a, _ := r.Index().Lookup(idA)
	r2.idx.Add(index.Entry{ID: idB, Type: pack.DataBlob, Pack: a.Pack, Offset: a.Offset, Length: a.Length})
	_, err := r2.LoadBlob(ctx, pack.DataBlob, idB)
	wantCorrupt(t, "swapped blob", err, PackName(a.Pack))
	// And OpenBlob with the wrong type fails too.
	sealed, _ := r2.readRange(ctx, PackName(a.Pack), int64(a.Offset), int64(a.Length))
	if _, err := r2.OpenBlob(pack.TreeBlob, idA, sealed); !errors.Is(err, ErrCorrupt) {
		t.Errorf("wrong type: %v", err)
	}
	if got, err := r2.OpenBlob(pack.DataBlob, idA, sealed); err != nil || string(got) != "blob A content" {
		t.Errorf("OpenBlob: %q %v", got, err)
	}
}

func TestLoadBlobFallsBack(t *testing.T) {
	ctx := context.Background()
	data := []byte("precious")
	store, r, id, packID := onePackRepo(t, data)
	good := rawGet(t, store, PackName(packID))
	// A second copy in another "pack", indexed by a second index object.
	copyID := crypto.ID{0xc0, 0xff, 0xee}
	rawPut(t, store, PackName(copyID), good)
	e, _ := r.Index().Lookup(id)
	e.Pack = copyID
	if _, err := r.SaveObject(ctx, KindIndex, index.Encode([]index.Entry{e}, nil)); err != nil {
		t.Fatal(err)
	}
	for _, damaged := range []crypto.ID{packID, copyID} {
		rawPut(t, store, PackName(damaged), flipped(good, int(e.Offset)+30))
		r2 := openTestRepo(t, store, OpenOptions{})
		if err := r2.LoadIndex(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := r2.LoadBlob(ctx, pack.DataBlob, id); err != nil || string(got) != string(data) {
			t.Errorf("with %s damaged: %q %v", damaged.Short(), got, err)
		}
		rawPut(t, store, PackName(damaged), good)
	}
	rawPut(t, store, PackName(packID), flipped(good, int(e.Offset)+30))
	rawPut(t, store, PackName(copyID), flipped(good, int(e.Offset)+30))
	r2 := openTestRepo(t, store, OpenOptions{})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := r2.LoadBlob(ctx, pack.DataBlob, id)
	wantCorrupt(t, "both copies damaged", err, PackName(packID))
	wantCorrupt(t, "both copies damaged", err, PackName(copyID))
}

func TestTamperIndexStructure(t *testing.T) {
	// An authenticated index whose body is malformed (a buggy writer) is
	// skipped by LoadIndex with a warning naming it.
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	body := index.Encode([]index.Entry{{ID: crypto.ID{1}, Type: pack.DataBlob, Pack: crypto.ID{2}, Length: 50}}, nil)
	body[len(body)-4] = 9 // unknown blob type
	id, err := r.SaveObject(ctx, KindIndex, body)
	if err != nil {
		t.Fatal(err)
	}
	r2 := openTestRepo(t, store, OpenOptions{})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatalf("LoadIndex stopped at a malformed index: %v", err)
	}
	sk := r2.Skipped()
	if len(sk) != 1 || sk[0].Name != ObjectName(KindIndex, id) {
		t.Fatalf("Skipped = %v, want the malformed index", sk)
	}
	wantCorrupt(t, "malformed index", sk[0].Err, ObjectName(KindIndex, id))
}
