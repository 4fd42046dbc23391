package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

func TestKeys(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	first := r.currentKey()

	second, err := r.AddKey(ctx, []byte("second"), crypto.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	for _, pass := range [][]byte{testPass, []byte("second")} {
		r2, err := Open(ctx, store, pass, OpenOptions{})
		if err != nil {
			t.Fatalf("open with %q: %v", pass, err)
		}
		if r2.Config().ID != r.Config().ID {
			t.Error("different repository")
		}
		r2.Close()
	}
	keys, err := r.ListKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListKeys: %v %v", keys, err)
	}
	for _, k := range keys {
		if k.Current != (k.ID == first) || k.Host != "testhost" || k.Username != "tester" || k.Created.IsZero() {
			t.Errorf("key info %+v", k)
		}
	}
	kf, err := r.LoadKeyFile(ctx, second)
	if err != nil || kf.KDF.MemoryKiB != crypto.TestKDF().MemoryKiB {
		t.Errorf("LoadKeyFile: %+v %v", kf, err)
	}

	if err := r.RemoveKey(ctx, second); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, store, []byte("second"), OpenOptions{}); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("removed key still opens: %v", err)
	}
	if err := r.RemoveKey(ctx, first); !errors.Is(err, ErrLastKey) {
		t.Errorf("removing the last key: %v", err)
	}
	if err := r.RemoveKey(ctx, second); err == nil {
		t.Error("removing a missing key succeeded")
	}
}

func TestChangePassphrase(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	old := r.currentKey()
	id, err := r.ChangePassphrase(ctx, []byte("new pass"), crypto.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	if id == old || r.currentKey() != id {
		t.Errorf("current key %s after change to %s", r.currentKey().Short(), id.Short())
	}
	if _, err := Open(ctx, store, testPass, OpenOptions{}); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("old passphrase: %v", err)
	}
	r2, err := Open(ctx, store, []byte("new pass"), OpenOptions{})
	if err != nil {
		t.Fatalf("new passphrase: %v", err)
	}
	r2.Close()
	if got := names(t, store, "keys/"); len(got) != 1 {
		t.Errorf("key files after change: %v", got)
	}
}
