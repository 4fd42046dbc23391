package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// A client with delete rights hides the config and every key file: the
// repository does not open until RecoverAccess brings back the config and
// the key file the passphrase opens, and only that one.
func TestRecoverAccess(t *testing.T) {
	ctx := context.Background()
	vr := newVersionedRepo(t)
	r := openTestRepo(t, vr.store, OpenOptions{})
	revoked := []byte("revoked passphrase")
	revokedID, err := r.AddKey(ctx, revoked, crypto.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveKey(ctx, revokedID); err != nil {
		t.Fatal(err)
	}
	vr.store.Hide("config")
	vr.store.Overwrite(vr.key, []byte("junk"))
	if _, err := Open(ctx, vr.store, testPass, OpenOptions{}); err == nil {
		t.Fatal("Open succeeded with the config hidden")
	}

	if _, err := RecoverAccess(ctx, vr.store, []byte("wrong"), false); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("RecoverAccess with a wrong passphrase: %v", err)
	}
	dry, err := RecoverAccess(ctx, vr.store, testPass, true)
	if err != nil || len(dry.Restored) != 2 {
		t.Fatalf("dry run: %+v, %v; want config and one key", dry, err)
	}
	if _, err := vr.store.Stat(ctx, "config"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("dry run restored the config: %v", err)
	}
	rep, err := RecoverAccess(ctx, vr.store, testPass, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]VersionState{}
	for _, d := range rep.Restored {
		got[d.Name] = d.State
	}
	if got["config"] != Hidden || got[vr.key] != Overwritten || len(got) != 2 {
		t.Errorf("restored %v", rep.Restored)
	}
	openTestRepo(t, vr.store, OpenOptions{})
	if _, err := vr.store.Stat(ctx, ObjectName(KindKey, revokedID)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the removed key file came back: %v", err)
	}
	// Nothing left to do.
	if again, err := RecoverAccess(ctx, vr.store, testPass, false); err != nil || len(again.Restored) != 0 {
		t.Errorf("second RecoverAccess: %+v, %v", again, err)
	}
}
