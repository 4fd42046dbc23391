package repo

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

var otherPass = []byte("the other repository's passphrase")

// newChunkerFrom makes a repository with InitOptions.ChunkerFrom = src,
// under otherPass.
func newChunkerFrom(t *testing.T, src *Repository) (*mem.Store, *Repository) {
	t.Helper()
	store := mem.New()
	opts := testInitOptions()
	opts.Chunker = chunker.Params{Algorithm: chunker.Algorithm, MinSize: 64 << 10, AvgSize: 128 << 10, MaxSize: 1 << 20} // ignored
	opts.ChunkerFrom = src
	r, err := Init(context.Background(), store, otherPass, opts)
	if err != nil {
		t.Fatalf("Init with ChunkerFrom: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return store, r
}

// chunks returns the boundaries and IDs r's chunker and keys give data.
func chunks(t *testing.T, r *Repository, data []byte) []crypto.ID {
	t.Helper()
	ch, err := chunker.New(r.Config().Chunker, r.Keys().ChunkerKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ch.Reset(bytes.NewReader(data))
	var ids []crypto.ID
	for {
		c, err := ch.Next()
		if err == io.EOF {
			return ids
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Keys().BlobID(c))
	}
}

func TestChunkerFromSharesContentKeysNotTheMaster(t *testing.T) {
	ctx := context.Background()
	srcStore, src := newTestRepo(t, InitOptions{KDF: crypto.TestKDF(), Chunker: chunker.Params{
		Algorithm: chunker.Algorithm, MinSize: 2 << 10, AvgSize: 8 << 10, MaxSize: 32 << 10}})
	dstStore, _ := newChunkerFrom(t, src)
	dst, err := Open(ctx, dstStore, otherPass, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()

	// Its own master secret: the source's passphrase does not open it,
	// and its encryption key differs both ways.
	if dst.master == src.master {
		t.Fatal("the new repository holds the source's master secret")
	}
	if _, err := Open(ctx, dstStore, testPass, OpenOptions{}); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("the source's passphrase on the new repository: %v, want a wrong passphrase", err)
	}
	if _, err := Open(ctx, srcStore, otherPass, OpenOptions{}); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("the new repository's passphrase on the source: %v, want a wrong passphrase", err)
	}
	sealed := dst.sealEnvelope("snapshot", []byte("secret"))
	if _, err := src.Keys().Open(nil, sealed, envelopeAD("snapshot")); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("the source's keys open the new repository's envelope: %v", err)
	}
	sealed = src.sealEnvelope("snapshot", []byte("secret"))
	if _, err := dst.Keys().Open(nil, sealed, envelopeAD("snapshot")); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("the new repository's keys open the source's envelope: %v", err)
	}

	// The config carries the source's two derived keys, not its master.
	id, ch := src.Keys().ContentKeys()
	ck := dst.Config().ContentKeys
	if ck == nil || ck.ID != hexOf(id) || ck.Chunker != hexOf(ch) {
		t.Fatalf("content_keys %+v, want the source's", ck)
	}
	if dst.Config().Chunker != src.Config().Chunker {
		t.Errorf("chunker %+v, want the source's %+v", dst.Config().Chunker, src.Config().Chunker)
	}

	// Same data, same chunk boundaries and IDs.
	data := make([]byte, 400<<10)
	rand.NewChaCha8([32]byte{7}).Read(data)
	a, b := chunks(t, src, data), chunks(t, dst, data)
	if len(a) < 5 || len(a) != len(b) {
		t.Fatalf("%d chunks in the source, %d in the new repository", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("chunk %d: ID %s in the source, %s in the new repository", i, a[i].Short(), b[i].Short())
		}
	}

	// A repository made from that one chunks alike too (its keys as used).
	_, third := newChunkerFrom(t, dst)
	if c := chunks(t, third, data); len(c) != len(a) || c[0] != a[0] || third.master == dst.master {
		t.Error("a repository made from a ChunkerFrom repository does not chunk as the first")
	}
	// And a plain repository does not.
	_, plain := newTestRepo(t, testInitOptions())
	if plain.Keys().BlobID(data) == src.Keys().BlobID(data) {
		t.Error("an unrelated repository names data alike")
	}
}

func hexOf(k [crypto.KeySize]byte) string { return hex.EncodeToString(k[:]) }

// TestMalformedContentKeysAreDamage: a config that authenticates but whose
// content_keys is malformed is damage, never a wrong passphrase.
func TestMalformedContentKeysAreDamage(t *testing.T) {
	ctx := context.Background()
	_, src := newTestRepo(t, testInitOptions())
	good := hexOf([crypto.KeySize]byte{0xab, 0xcd, 0xef})
	for name, field := range map[string]string{
		"empty":         `{}`,
		"id only":       `{"id":"` + good + `"}`,
		"chunker only":  `{"chunker":"` + good + `"}`,
		"short":         `{"id":"` + good[:62] + `","chunker":"` + good + `"}`,
		"long":          `{"id":"` + good + `","chunker":"` + good + `00"}`,
		"not hex":       `{"id":"` + good + `","chunker":"` + strings.Repeat("zz", 32) + `"}`,
		"upper case":    `{"id":"` + strings.ToUpper(good) + `","chunker":"` + good + `"}`,
		"wrong type":    `{"id":1,"chunker":"` + good + `"}`,
		"not an object": `"` + good + good + `"`,
	} {
		t.Run(name, func(t *testing.T) {
			store, r := newChunkerFrom(t, src)
			var cfg map[string]json.RawMessage
			body, _ := json.Marshal(r.cfg)
			if err := json.Unmarshal(body, &cfg); err != nil {
				t.Fatal(err)
			}
			cfg["content_keys"] = json.RawMessage(field)
			body, _ = json.Marshal(cfg)
			store.Delete(ctx, configName) // Put never replaces
			rawPut(t, store, configName, r.sealEnvelope("config", body))

			_, err := Open(ctx, store, otherPass, OpenOptions{})
			if !IsDamage(err) || errors.Is(err, crypto.ErrWrongPassphrase) {
				t.Errorf("open with content_keys %s: %v, want damage", field, err)
			}
		})
	}
	// null is the field absent: the keys derive from the master.
	store, r := newChunkerFrom(t, src)
	body, _ := json.Marshal(r.cfg)
	body = bytes.Replace(body, []byte(`"content_keys":{`), []byte(`"content_keys":null,"x":{`), 1)
	store.Delete(ctx, configName)
	rawPut(t, store, configName, r.sealEnvelope("config", body))
	r2, err := Open(ctx, store, otherPass, OpenOptions{})
	if err != nil {
		t.Fatalf("open with content_keys null: %v", err)
	}
	defer r2.Close()
	if r2.Config().ContentKeys != nil || r2.Keys().BlobID([]byte("x")) != crypto.DeriveKeys(r2.master).BlobID([]byte("x")) {
		t.Error("content_keys null: keys not derived from the master")
	}
}

// TestConfigReturnsACopyOfContentKeys: a caller cannot change the keys a
// repository uses through Config.
func TestConfigReturnsACopyOfContentKeys(t *testing.T) {
	_, src := newTestRepo(t, testInitOptions())
	_, r := newChunkerFrom(t, src)
	r.Config().ContentKeys.ID = "changed"
	if r.cfg.ContentKeys.ID == "changed" {
		t.Error("Config shares ContentKeys with the repository")
	}
}
