package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// plantKeyFiles writes n key files with cheap KDF parameters that no
// passphrase opens into the local repository at repoDir.
func plantKeyFiles(t *testing.T, repoDir string, n int) {
	t.Helper()
	for range n {
		kdf := crypto.KDFParams{Algorithm: "argon2id", Time: 1, MemoryKiB: 8, Threads: 1, Salt: make([]byte, 32)}
		data := make([]byte, 72)
		rand.Read(kdf.Salt)
		rand.Read(data)
		b, err := (&crypto.KeyFile{Version: 1, Created: time.Now().UTC(), KDF: kdf, Data: data}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		plantObject(t, repoDir, "keys", b)
	}
}

// TestKeyFileChoice: the key file that opened the repository is
// remembered outside the cache and tried first, so many planted key files
// (cheaper than the real one, so tried before it) do not stop a client;
// --key-hint does the same without the state; a damaged key file is
// reported as damaged, not as a wrong passphrase.
func TestKeyFileChoice(t *testing.T) {
	home := isolate(t)
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "pw")
	ok(t, "init", "-q")
	// init remembers its key file, before anyone could plant others.
	stateDir := filepath.Join(home, ".local", "state", "cairn")
	files, _ := filepath.Glob(filepath.Join(stateDir, "*", "last-key"))
	if len(files) != 1 {
		t.Fatalf("state files after init: %v", files)
	}
	keys := listKeys(t)
	if len(keys) != 1 {
		t.Fatalf("keys: %+v", keys)
	}
	realKey := keys[0].ID
	if b, _ := os.ReadFile(files[0]); strings.TrimSpace(string(b)) != realKey {
		t.Errorf("last-key holds %q, want %s", b, realKey)
	}

	plantKeyFiles(t, repoDir, 40)
	ok(t, "snapshots")
	if err := os.RemoveAll(stateDir); err != nil {
		t.Fatal(err)
	}
	// Without the state, the 32 cheapest are tried and the real one is
	// not among them: not "wrong passphrase", and the hint is offered.
	fails(t, exitError, "--key-hint", "snapshots")
	ok(t, "snapshots", "--key-hint", realKey[:8])
	t.Setenv("CAIRN_KEY_HINT", realKey[:10])
	ok(t, "snapshots")
	os.Unsetenv("CAIRN_KEY_HINT")
	fails(t, exitError, "no key file matches --key-hint", "snapshots", "--key-hint", "0123456789abcdef")
	fails(t, exitError, "--kdf-max-memory", "snapshots", "--kdf-max-memory", "0")

	// Damage: the real key file cut short. The planted ones refuse the
	// passphrase, but 8 were not tried, so this is not exit 12 either;
	// with the planted ones gone it is plain damage.
	name := filepath.Join(repoDir, "keys", realKey)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(repoDir, "keys"))
	for _, e := range entries {
		if e.Name() != realKey {
			os.Remove(filepath.Join(repoDir, "keys", e.Name()))
		}
	}
	os.WriteFile(name, b[:len(b)/2], 0o644)
	fails(t, exitError, "keys/"+realKey, "snapshots")
	r := cairn(t, "snapshots")
	if r.code == exitWrongPass || !strings.Contains(r.stderr, "damaged") {
		t.Errorf("damaged key file: exit %d, %s", r.code, r.stderr)
	}
	t.Setenv("CAIRN_PASSWORD", "wrong")
	if r := cairn(t, "snapshots"); r.code == exitWrongPass {
		t.Errorf("damaged key file, wrong passphrase: exit 12 (%s)", r.stderr)
	}
}
