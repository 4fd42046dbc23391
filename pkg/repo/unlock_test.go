package repo

import (
	"context"
	"crypto/rand"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// plantKeyFile stores a key file with the KDF parameters kdf that no
// passphrase we use opens, as anyone who may create objects could, and
// returns its ID. Nothing runs its KDF here.
func plantKeyFile(t *testing.T, store storage.Store, kdf crypto.KDFParams) crypto.ID {
	t.Helper()
	kdf.Algorithm = "argon2id"
	kdf.Salt = make([]byte, 32)
	data := make([]byte, 24+32+16)
	rand.Read(kdf.Salt)
	rand.Read(data)
	kf := &crypto.KeyFile{Version: 1, Created: time.Now().UTC(), KDF: kdf, Data: data}
	b, err := kf.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	id := crypto.Hash(b)
	rawPut(t, store, ObjectName(KindKey, id), b)
	return id
}

// gib is 1 GiB in KiB.
const gib = 1 << 20

// TestPlantedExpensiveKeyFiles: two planted key files asking for 1 GiB and
// 3 passes, and many cheap ones, do not stop an open with the right
// passphrase, and their KDF is never run: the expensive ones are ordered
// last (and refused under lower limits), which the memory allocated
// shows.
func TestPlantedExpensiveKeyFiles(t *testing.T) {
	ctx := context.Background()
	store, r0 := newTestRepo(t, testInitOptions())
	var expensive []crypto.ID
	for range 2 {
		expensive = append(expensive, plantKeyFile(t, store, crypto.KDFParams{Time: 3, MemoryKiB: gib, Threads: 4}))
	}
	for range 20 {
		plantKeyFile(t, store, crypto.TestKDF())
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := Open(ctx, store, testPass, OpenOptions{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Open with the right passphrase: %v", err)
	}
	r.Close()
	if r.KeyID() != r0.KeyID() {
		t.Errorf("opened with key %s, want %s", r.KeyID().Short(), r0.KeyID().Short())
	}
	// One 1 GiB Argon2id run would allocate 1 GiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("Open allocated %d MiB: an expensive KDF ran", alloc>>20)
	}

	// Under lower limits the expensive ones are refused without running,
	// and a wrong passphrase names them instead of claiming exit 12.
	runtime.ReadMemStats(&before)
	_, err = Open(ctx, store, []byte("wrong"), OpenOptions{KDFLimits: crypto.KDFLimits{MemoryKiB: 512 << 10}})
	runtime.ReadMemStats(&after)
	if err == nil || errors.Is(err, crypto.ErrWrongPassphrase) ||
		!strings.Contains(err.Error(), "--kdf-max-memory") {
		t.Fatalf("wrong passphrase under lower limits: %v", err)
	}
	for _, id := range expensive {
		if !strings.Contains(err.Error(), ObjectName(KindKey, id)) {
			t.Errorf("error does not name %s: %v", id.Short(), err)
		}
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("Open allocated %d MiB: a refused KDF ran", alloc>>20)
	}
	// Within the limits they count, and the caps themselves hold: a key
	// file above 1 GiB is refused with the default limits.
	huge := plantKeyFile(t, store, crypto.KDFParams{Time: 3, MemoryKiB: 2 * gib, Threads: 4})
	r, err = Open(ctx, store, testPass, OpenOptions{})
	if err != nil {
		t.Fatalf("Open with a 2 GiB key file planted: %v", err)
	}
	r.Close()
	_, err = Open(ctx, store, []byte("wrong"), OpenOptions{KDFLimits: crypto.KDFLimits{MemoryKiB: 512 << 10}})
	if err == nil || !strings.Contains(err.Error(), ObjectName(KindKey, huge)) {
		t.Errorf("2 GiB key file not named: %v", err)
	}
}

// TestManyPlantedKeyFiles: at most maxKeyFilesTried KDF runs per open. With
// more planted key files cheaper than the real one, the real one is found
// through --key-hint or the remembered key, and without them the error
// says what to do (and is not "wrong passphrase").
func TestManyPlantedKeyFiles(t *testing.T) {
	ctx := context.Background()
	store, r0 := newTestRepo(t, testInitOptions())
	cheaper := crypto.KDFParams{Time: 1, MemoryKiB: 8, Threads: 1}
	for range maxKeyFilesTried + 8 {
		plantKeyFile(t, store, cheaper)
	}
	_, err := Open(ctx, store, testPass, OpenOptions{})
	if err == nil || errors.Is(err, crypto.ErrWrongPassphrase) ||
		!strings.Contains(err.Error(), "none of the 32 key files tried") || !strings.Contains(err.Error(), "--key-hint") {
		t.Fatalf("Open without a hint: %v", err)
	}
	real := r0.KeyID()
	for _, opts := range []OpenOptions{{KeyHint: real.String()[:8]}, {KeyHint: strings.ToUpper(real.String()[:6])}, {PreferKeys: []crypto.ID{{9}, real}}} {
		r, err := Open(ctx, store, testPass, opts)
		if err != nil {
			t.Fatalf("Open %+v: %v", opts, err)
		}
		if r.KeyID() != real {
			t.Errorf("Open %+v used %s", opts, r.KeyID().Short())
		}
		r.Close()
	}
	if _, err := Open(ctx, store, testPass, OpenOptions{KeyHint: "ffffffffff"}); err == nil || !strings.Contains(err.Error(), "--key-hint") {
		t.Errorf("hint matching nothing: %v", err)
	}
}

// TestDamageIsNotWrongPassphrase: a damaged key file is named as damaged;
// a wrong passphrase is exit 12 only when every intact key file refuses
// it; a damaged config with the right passphrase is damage.
func TestDamageIsNotWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	store, r0 := newTestRepo(t, testInitOptions())
	second, err := r0.AddKey(ctx, []byte("second"), crypto.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	name := ObjectName(KindKey, r0.KeyID())
	orig := rawGet(t, store, name)
	rawPut(t, store, name, orig[:len(orig)/2]) // cut short: fails its hash

	// The right passphrase, but its key file is damaged, and the intact
	// one refuses it: wrong for every intact key file, and the damaged one
	// is named as damaged.
	_, err = Open(ctx, store, testPass, OpenOptions{})
	if !errors.Is(err, crypto.ErrWrongPassphrase) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "1 key file(s) damaged") {
		t.Errorf("right passphrase, damaged key file: %v", err)
	}
	// The intact key file opens with its passphrase.
	r, err := Open(ctx, store, []byte("second"), OpenOptions{})
	if err != nil || r.KeyID() != second {
		t.Fatalf("second key: %v", err)
	}
	r.Close()
	// Undecodable (but matching its name): damage too.
	junk := []byte("{not json")
	junkName := ObjectName(KindKey, crypto.Hash(junk))
	rawPut(t, store, junkName, junk)
	// Only the second key is intact, so only now is a passphrase wrong.
	_, err = Open(ctx, store, []byte("wrong"), OpenOptions{})
	if !errors.Is(err, crypto.ErrWrongPassphrase) || !strings.Contains(err.Error(), "none of the 1 key files") ||
		!strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), junkName) {
		t.Errorf("wrong passphrase: %v", err)
	}
	store.Delete(ctx, ObjectName(KindKey, second))
	_, err = Open(ctx, store, []byte("wrong"), OpenOptions{})
	if errors.Is(err, crypto.ErrWrongPassphrase) || !errors.Is(err, ErrCorrupt) {
		t.Errorf("only damaged key files: %v", err)
	}

	// A config that fails authentication under the right key is damage.
	store2, _ := newTestRepo(t, testInitOptions())
	cfg := rawGet(t, store2, "config")
	cfg[len(cfg)-1] ^= 1
	rawPut(t, store2, "config", cfg)
	_, err = Open(ctx, store2, testPass, OpenOptions{})
	if errors.Is(err, crypto.ErrWrongPassphrase) || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "config") {
		t.Errorf("damaged config: %v", err)
	}
	// An oversized config is refused after a Stat.
	rawPut(t, store2, "config", make([]byte, maxConfigSize+1))
	if _, err = Open(ctx, store2, testPass, OpenOptions{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized config: %v", err)
	}
}
