package repo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/argon2"
)

// Revision 1.1 content_keys vector (FORMAT.md section 5): a repository
// with its own master secret whose config carries the content-ID and
// chunker keys of the vectors.json repository, so the blob of that
// vector's pack has the same ID here. Built by the independent
// implementation of vectors_test.go, read by the real readers.

const contentKeysVectorsFile = "testdata/vectors-content-keys.json"

type vectorsContentKeys struct {
	Comment    string `json:"comment"`
	MasterKey  string `json:"master_key"` // this repository's own
	Passphrase string `json:"passphrase"`
	KeyFile    struct {
		Name   string `json:"name"`
		Stored string `json:"stored"`
	} `json:"key_file"`
	Config struct {
		Stored string `json:"stored"` // hex
		Body   string `json:"body"`
	} `json:"config"`
	// The keys config carries: those of vectors.json's master_key.
	IDKey      string `json:"id_key"`
	ChunkerKey string `json:"chunker_key"`
}

func buildVectorsContentKeys() vectorsContentKeys {
	var v vectorsContentKeys
	v.Comment = "FORMAT.md section 5 content_keys vector: own master key, the content-ID and chunker keys of vectors.json's master key; built independently of pkg/repo (see vectors_contentkeys_test.go). Regenerate with go test -run TestVectorsContentKeys -update."
	source := make([]byte, 32)
	master := make([]byte, 32)
	for i := range master {
		source[i], master[i] = byte(i), byte(0x20+i)
	}
	v.MasterKey = hex.EncodeToString(master)
	v.Passphrase = "cairn content keys vector"
	v.IDKey = hex.EncodeToString(vecSubkey(source, "cairn 1 content id key"))
	v.ChunkerKey = hex.EncodeToString(vecSubkey(source, "cairn 1 chunker key"))

	salt := bytes.Repeat([]byte{8}, 32)
	kek := argon2.IDKey([]byte(v.Passphrase), salt, 1, 64, 1, 32)
	wrapped := vecSeal(kek, 0x21, master, []byte("cairn 1 key file"))
	kf := fmt.Sprintf(`{"version":1,"created":"2026-12-02T02:00:00Z","host":"vector","username":"vector",`+
		`"kdf":{"algorithm":"argon2id","time":1,"memory_kib":64,"threads":1,"salt":%q},"data":%q}`,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(wrapped))
	v.KeyFile.Stored = kf
	v.KeyFile.Name = "keys/" + vecHash([]byte(kf))

	v.Config.Body = `{"version":1,"id":"` + strings.Repeat("43", 32) + `","created":"2026-12-02T02:00:00Z",` +
		`"chunker":{"algorithm":"fastcdc-v1.0.0-keyed","min_size":524288,"avg_size":1048576,"max_size":8388608},` +
		`"compression":"zstd","compression_level":1,"pack_size":16777216,` +
		`"content_keys":{"id":"` + v.IDKey + `","chunker":"` + v.ChunkerKey + `"}}`
	encKey := vecSubkey(master, "cairn 1 encryption key")
	v.Config.Stored = hex.EncodeToString(vecSeal(encKey, 0x22, append([]byte{0}, v.Config.Body...), []byte("cairn 1 config")))
	return v
}

func TestVectorsContentKeys(t *testing.T) {
	built := buildVectorsContentKeys()
	if *update {
		out, _ := json.MarshalIndent(built, "", "  ")
		if err := os.WriteFile(contentKeysVectorsFile, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(contentKeysVectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var v vectorsContentKeys
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, built) {
		t.Fatalf("%s does not match the independent builder; regenerate with -update only for an intended format change", contentKeysVectorsFile)
	}
	var main vectors
	loadVectorsFile(t, &main)

	ctx := context.Background()
	store := mem.New()
	rawPut(t, store, v.KeyFile.Name, []byte(v.KeyFile.Stored))
	rawPut(t, store, configName, unhex(t, v.Config.Stored))
	r, err := Open(ctx, store, []byte(v.Passphrase), OpenOptions{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if got, _ := json.Marshal(r.Config()); string(got) != v.Config.Body {
		t.Errorf("config re-encodes as\n%s\nwant\n%s", got, v.Config.Body)
	}
	// The blob of vectors.json's pack has the same ID here, and the
	// chunker key is the source's.
	if got := r.Keys().BlobID(unhex(t, main.Pack.Plaintext)); got.String() != main.Pack.BlobID {
		t.Errorf("content ID %s, want %s (the source's)", got, main.Pack.BlobID)
	}
	if !bytes.Equal(r.Keys().ChunkerKey(), unhex(t, v.ChunkerKey)) {
		t.Error("chunker key is not content_keys.chunker")
	}
	// The encryption key is this repository's own: the source's key does
	// not open the config, this master's does.
	sealed := unhex(t, v.Config.Stored)
	if _, err := vecOpen(vecSubkey(unhex(t, main.MasterKey), "cairn 1 encryption key"), sealed, []byte("cairn 1 config")); err == nil {
		t.Error("the source's encryption key opens the config")
	}
	if _, err := r.Keys().Open(nil, sealed, []byte("cairn 1 config")); err != nil {
		t.Errorf("the repository's keys do not open its config: %v", err)
	}
	if _, err := Open(ctx, store, []byte(main.Passphrase), OpenOptions{}); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("the source's passphrase: %v, want a wrong passphrase", err)
	}
}

// TestWriterConformanceContentKeys: what Init with ChunkerFrom writes, the
// independent implementation reads as the page says.
func TestWriterConformanceContentKeys(t *testing.T) {
	_, src := newTestRepo(t, testInitOptions())
	store, r := newChunkerFrom(t, src)
	body, err := vecOpen(vecSubkey(r.master[:], "cairn 1 encryption key"), rawGet(t, store, configName), []byte("cairn 1 config"))
	if err != nil {
		t.Fatalf("independent reader: config does not open under the new master's encryption key: %v", err)
	}
	switch {
	case len(body) > 0 && body[0] == 0:
		body = body[1:]
	case len(body) > 0 && body[0] == 1:
		dec, _ := zstd.NewReader(nil)
		defer dec.Close()
		if body, err = dec.DecodeAll(body[1:], nil); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("config payload %x: bad compression byte", body)
	}
	var cfg struct {
		ContentKeys map[string]string `json:"content_keys"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"id":      hex.EncodeToString(vecSubkey(src.master[:], "cairn 1 content id key")),
		"chunker": hex.EncodeToString(vecSubkey(src.master[:], "cairn 1 chunker key")),
	}
	if !reflect.DeepEqual(cfg.ContentKeys, want) {
		t.Errorf("content_keys %v, want the source's derived keys %v", cfg.ContentKeys, want)
	}
}
