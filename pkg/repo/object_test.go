package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
)

func TestObjectNames(t *testing.T) {
	var id crypto.ID
	id[0], id[31] = 0xab, 0x01
	hexID := id.String()
	for kind, want := range map[string]string{
		KindSnapshot: "snapshots/" + hexID, KindIndex: "index/" + hexID, KindLease: "leases/" + hexID,
		KindDeletion: "deletions/" + hexID, KindKey: "keys/" + hexID,
	} {
		if got := ObjectName(kind, id); got != want {
			t.Errorf("ObjectName(%s) = %s, want %s", kind, got, want)
		}
		if err := storage.ValidName(ObjectName(kind, id)); err != nil {
			t.Error(err)
		}
	}
	if got, want := PackName(id), "data/ab/"+hexID; got != want {
		t.Errorf("PackName = %s, want %s", got, want)
	}
}

func TestObjectRoundTrip(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	bodies := map[string][]byte{
		KindSnapshot: []byte(`{"version":1,"paths":["/home"],"tree":["` + strings.Repeat("ab", 32) + `"]}`),
		KindIndex:    index.Encode([]index.Entry{{ID: crypto.ID{1}, Type: pack.DataBlob, Pack: crypto.ID{2}, Offset: 0, Length: 100}}, nil),
		KindLease:    []byte(`{"run":"x","done":false}`),
		KindDeletion: []byte(strings.Repeat(`{"packs":[]}`, 100)), // compressible
	}
	for kind, body := range bodies {
		id, err := r.SaveObject(ctx, kind, body)
		if err != nil {
			t.Fatalf("SaveObject(%s): %v", kind, err)
		}
		stored := rawGet(t, store, ObjectName(kind, id))
		if crypto.Hash(stored) != id {
			t.Errorf("%s: name is not the hash of the stored bytes", kind)
		}
		if kind == KindDeletion && len(stored) >= len(body) {
			t.Errorf("compressible body not compressed: %d stored for %d", len(stored), len(body))
		}
		got, err := r.LoadObject(ctx, kind, id)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("LoadObject(%s) = %q, %v", kind, got, err)
		}
		ids, err := r.ListObjects(ctx, kind)
		if err != nil || len(ids) != 1 || ids[0] != id {
			t.Errorf("ListObjects(%s) = %v, %v", kind, ids, err)
		}
		found, err := r.FindObject(ctx, kind, id.String()[:6])
		if err != nil || found != id {
			t.Errorf("FindObject(%s) = %v, %v", kind, found, err)
		}
		if err := r.DeleteObject(ctx, kind, id); err != nil {
			t.Fatal(err)
		}
		if _, err := r.LoadObject(ctx, kind, id); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), ObjectName(kind, id)) {
			t.Errorf("load after delete: %v", err)
		}
	}
	if _, err := r.SaveObject(ctx, "config", nil); err == nil {
		t.Error("SaveObject accepted kind config")
	}
	if _, err := r.SaveObject(ctx, KindKey, nil); err == nil {
		t.Error("SaveObject accepted kind key")
	}
}

func TestFindObject(t *testing.T) {
	ctx := context.Background()
	_, r := newTestRepo(t, testInitOptions())
	var ids []crypto.ID
	for i := range 40 {
		id, err := r.SaveObject(ctx, KindSnapshot, []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := r.FindObject(ctx, KindSnapshot, "abc"); err == nil {
		t.Error("3-digit prefix accepted")
	}
	if _, err := r.FindObject(ctx, KindSnapshot, "zzzz"); err == nil {
		t.Error("non-hex prefix accepted")
	}
	if _, err := r.FindObject(ctx, KindSnapshot, strings.Repeat("0", 63)+"1"); err != nil {
		t.Errorf("a full ID needs no listing: %v", err)
	}
	// Some 1-digit prefix must be shared by two of 40 random IDs; use the
	// 4-digit search only where it is unique.
	if id, err := r.FindObject(ctx, KindSnapshot, strings.ToUpper(ids[0].String()[:8])); err != nil || id != ids[0] {
		t.Errorf("upper-case prefix: %v %v", id, err)
	}
	if _, err := r.FindObject(ctx, KindSnapshot, "ffffffff"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("no match: %v", err)
	}
}

func TestCatJSON(t *testing.T) {
	ctx := context.Background()
	_, r := newTestRepo(t, testInitOptions())
	out, err := r.CatJSON(ctx, "config", "")
	if err != nil || !strings.Contains(string(out), `"pack_size": 16777216`) {
		t.Errorf("cat config: %s %v", out, err)
	}
	snap, _ := r.SaveObject(ctx, KindSnapshot, []byte(`{"version":1}`))
	out, err = r.CatJSON(ctx, "snapshot", snap.String()[:10])
	if err != nil || string(out) != "{\n  \"version\": 1\n}" {
		t.Errorf("cat snapshot: %q %v", out, err)
	}
	e := index.Entry{ID: crypto.ID{1}, Type: pack.TreeBlob, Pack: crypto.ID{2}, Offset: 7, Length: 99}
	idx, _ := r.SaveObject(ctx, KindIndex, index.Encode([]index.Entry{e}, []crypto.ID{{3}}))
	out, err = r.CatJSON(ctx, "index", idx.String())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Supersedes []string
		Entries    []catEntry
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Supersedes) != 1 || got.Supersedes[0] != (crypto.ID{3}).String() || len(got.Entries) != 1 ||
		got.Entries[0] != (catEntry{ID: e.ID.String(), Type: "tree", Pack: e.Pack.String(), Offset: 7, Length: 99}) {
		t.Errorf("cat index: %s", out)
	}
	out, err = r.CatJSON(ctx, "key", r.currentKey().String()[:8])
	if err != nil || !strings.Contains(string(out), `"argon2id"`) {
		t.Errorf("cat key: %s %v", out, err)
	}
	if _, err := r.CatJSON(ctx, "bogus", ""); err == nil {
		t.Error("cat bogus succeeded")
	}
}
