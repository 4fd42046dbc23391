package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

func TestLastKey(t *testing.T) {
	base := Base(t.TempDir())
	idA, idB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	a, err := base.Repo(idA)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.LastKey(); ok {
		t.Fatal("LastKey known before any was set")
	}
	k1, k2 := crypto.ID{1}, crypto.ID{2}
	if err := a.SetLastKey(k1); err != nil {
		t.Fatal(err)
	}
	if err := a.SetLastKey(k2); err != nil {
		t.Fatal(err)
	}
	if got, ok := a.LastKey(); !ok || got != k2 {
		t.Errorf("LastKey = %v, %v; want %v", got, ok, k2)
	}
	b, _ := base.Repo(idB)
	if err := b.SetLastKey(k1); err != nil {
		t.Fatal(err)
	}
	// Junk in the base directory is ignored.
	os.MkdirAll(filepath.Join(string(base), "not-a-repo"), 0o700)
	os.WriteFile(filepath.Join(string(base), idA, lastKeyFile+"x"), []byte("junk"), 0o600)
	if got := base.LastKeys(); len(got) != 2 || got[0] != k2 || got[1] != k1 {
		t.Errorf("LastKeys = %v", got)
	}
	// A damaged fact is unknown, not an error.
	os.WriteFile(filepath.Join(string(base), idB, lastKeyFile), []byte("garbage"), 0o600)
	if _, ok := b.LastKey(); ok {
		t.Error("garbage read as a key ID")
	}
	if _, err := base.Repo("../etc"); err == nil {
		t.Error("Repo accepted a path as a repository ID")
	}
	entries, _ := os.ReadDir(filepath.Join(string(base), idA))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestDefaultBase(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/x/state")
	if b, err := DefaultBase(); err != nil || b != "/x/state/cairn" {
		t.Errorf("DefaultBase = %q, %v", b, err)
	}
	t.Setenv("XDG_STATE_HOME", "relative")
	t.Setenv("HOME", "/home/u")
	if b, err := DefaultBase(); err != nil || b != "/home/u/.local/state/cairn" {
		t.Errorf("DefaultBase = %q, %v", b, err)
	}
}
