package repo

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const vectorsFile = "testdata/vectors.json"

// vectors pin the stored bytes of FORMAT.md sections 3-7. They are built by
// the independent implementation below (standard library and x/crypto
// only, fixed nonces), never by this package's writers, and read back with
// this package's real readers.
type vectors struct {
	Comment    string `json:"comment"`
	MasterKey  string `json:"master_key"`
	Passphrase string `json:"passphrase"`
	KeyFile    struct {
		Name   string `json:"name"`
		Stored string `json:"stored"` // the key file JSON itself
	} `json:"key_file"`
	Config struct {
		Stored string `json:"stored"` // hex
		Body   string `json:"body"`   // JSON text
	} `json:"config"`
	Snapshots []struct {
		Name   string `json:"name"`
		Stored string `json:"stored"`
		Body   string `json:"body"`
	} `json:"snapshots"`
	Pack struct {
		Name      string `json:"name"`
		Stored    string `json:"stored"`
		BlobID    string `json:"blob_id"`
		BlobType  int    `json:"blob_type"`
		Plaintext string `json:"plaintext"`
	} `json:"pack"`
	Index struct {
		Name   string `json:"name"`
		Stored string `json:"stored"`
		Body   string `json:"body"` // hex
	} `json:"index"`
	Forgotten struct {
		Name   string `json:"name"`
		Stored string `json:"stored"`
		Body   string `json:"body"` // JSON text
	} `json:"forgotten"`
	V11 *vectorsV11 `json:"format_1_1,omitempty"` // vectors_v11_test.go
}

// Independent implementation of the format's primitives.

func vecSubkey(master []byte, label string) []byte {
	out := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, master, nil, []byte(label)), out); err != nil {
		panic(err)
	}
	return out
}

func vecSeal(key []byte, nonceByte byte, plain, ad []byte) []byte {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic(err)
	}
	nonce := bytes.Repeat([]byte{nonceByte}, chacha20poly1305.NonceSizeX)
	return aead.Seal(nonce, nonce, plain, ad)
}

func vecOpen(key, sealed, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 24+16 {
		return nil, fmt.Errorf("short")
	}
	return aead.Open(nil, sealed[:24], sealed[24:], ad)
}

func vecHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func le32(b []byte, v int) []byte { return binary.LittleEndian.AppendUint32(b, uint32(v)) }

func buildVectors() vectors {
	var v vectors
	v.Comment = "FORMAT.md test vectors: fixed master key, salt and nonces; built independently of pkg/repo (see vectors_test.go). Regenerate with go test -run TestVectors -update."
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(i)
	}
	v.MasterKey = hex.EncodeToString(master)
	v.Passphrase = "cairn test vector"
	encKey := vecSubkey(master, "cairn 1 encryption key")
	idKey := vecSubkey(master, "cairn 1 content id key")

	// Key file (section 3).
	salt := bytes.Repeat([]byte{7}, 32)
	kek := argon2.IDKey([]byte(v.Passphrase), salt, 1, 64, 1, 32)
	wrapped := vecSeal(kek, 0x11, master, []byte("cairn 1 key file"))
	kf := fmt.Sprintf(`{"version":1,"created":"2026-11-25T12:00:00Z","host":"vector","username":"vector",`+
		`"kdf":{"algorithm":"argon2id","time":1,"memory_kib":64,"threads":1,"salt":%q},"data":%q}`,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(wrapped))
	v.KeyFile.Stored = kf
	v.KeyFile.Name = "keys/" + vecHash([]byte(kf))

	// Config (sections 4, 5): uncompressed payload.
	v.Config.Body = `{"version":1,"id":"` + strings.Repeat("42", 32) + `","created":"2026-11-25T12:00:00Z",` +
		`"chunker":{"algorithm":"fastcdc-v1.0.0-keyed","min_size":524288,"avg_size":1048576,"max_size":8388608},` +
		`"compression":"zstd","compression_level":1,"pack_size":16777216}`
	v.Config.Stored = hex.EncodeToString(vecSeal(encKey, 0x01, append([]byte{0}, v.Config.Body...), []byte("cairn 1 config")))

	// Snapshots (sections 4, 8): one raw, one zstd-compressed payload.
	snapBody := `{"version":1,"time":"2026-11-25T12:00:00Z","host":"vector","username":"vector","paths":["/home/vector"],"tree":["` + strings.Repeat("ab", 32) + `"]}`
	raw := vecSeal(encKey, 0x02, append([]byte{0}, snapBody...), []byte("cairn 1 snapshot"))
	longBody := `{"version":1,"paths":[` + strings.Repeat(`"/srv/data",`, 40) + `"/"],"tags":["compressed"]}`
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false))
	compressed := vecSeal(encKey, 0x03, enc.EncodeAll([]byte(longBody), []byte{1}), []byte("cairn 1 snapshot"))
	for _, s := range []struct {
		stored []byte
		body   string
	}{{raw, snapBody}, {compressed, longBody}} {
		v.Snapshots = append(v.Snapshots, struct {
			Name   string `json:"name"`
			Stored string `json:"stored"`
			Body   string `json:"body"`
		}{"snapshots/" + vecHash(s.stored), hex.EncodeToString(s.stored), s.body})
	}

	// A pack with one data blob (section 6).
	plain := []byte("hello, cairn!\n")
	mac := hmac.New(sha256.New, idKey)
	mac.Write(plain)
	blobID := mac.Sum(nil)
	blobAD := append(append([]byte("cairn 1 blob"), 1), blobID...)
	blob := vecSeal(encKey, 0x04, append([]byte{0}, plain...), blobAD)
	hdr := append([]byte{0}, "CAIRNPK1"...)
	hdr = le32(hdr, 1)
	hdr = append(append(hdr, 1), blobID...)
	hdr = le32(le32(hdr, 0), len(blob))
	sealedHdr := vecSeal(encKey, 0x05, hdr, []byte("cairn 1 pack header"))
	p := append(append(bytes.Clone(blob), sealedHdr...), le32(nil, len(sealedHdr))...)
	packHash := vecHash(p)
	v.Pack.Name = "data/" + packHash[:2] + "/" + packHash
	v.Pack.Stored = hex.EncodeToString(p)
	v.Pack.BlobID = hex.EncodeToString(blobID)
	v.Pack.BlobType = 1
	v.Pack.Plaintext = hex.EncodeToString(plain)

	// The index of that pack (section 7).
	packID, _ := hex.DecodeString(packHash)
	body := []byte("CAIRNIX1")
	body = le32(le32(le32(body, 1), 0), 1)
	body = append(body, packID...)
	body = append(body, blobID...)
	body = le32(le32(le32(body, 0), 0), len(blob))
	body = append(body, 1, 0, 0, 0)
	storedIdx := vecSeal(encKey, 0x06, append([]byte{0}, body...), []byte("cairn 1 index"))
	v.Index.Name = "index/" + vecHash(storedIdx)
	v.Index.Stored = hex.EncodeToString(storedIdx)
	v.Index.Body = hex.EncodeToString(body)

	// A forgotten record (section 13).
	v.Forgotten.Body = `{"created":"2026-11-26T08:00:00Z","host":"vector","snapshots":["` + strings.TrimPrefix(v.Snapshots[0].Name, "snapshots/") + `"]}`
	storedF := vecSeal(encKey, 0x07, append([]byte{0}, v.Forgotten.Body...), []byte("cairn 1 forgotten"))
	v.Forgotten.Name = "forgotten/" + vecHash(storedF)
	v.Forgotten.Stored = hex.EncodeToString(storedF)
	v.V11 = buildVectorsV11(master)
	return v
}

func loadVectorsFile(t *testing.T, v *vectors) {
	t.Helper()
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVectors(t *testing.T) {
	built := buildVectors()
	if *update {
		out, _ := json.MarshalIndent(built, "", "  ")
		if err := os.WriteFile(vectorsFile, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var v vectors
	loadVectorsFile(t, &v)
	// The file and the independent builder agree (except the zstd frame,
	// whose bytes may change with the compressor's version).
	if built.Config != v.Config || built.KeyFile != v.KeyFile || built.Pack != v.Pack || built.Index != v.Index || built.Snapshots[0] != v.Snapshots[0] || built.Forgotten != v.Forgotten {
		t.Errorf("%s does not match the independent builder; regenerate with -update only for an intended format change", vectorsFile)
	}

	// Read everything back with the real readers.
	ctx := context.Background()
	store := mem.New()
	rawPut(t, store, v.KeyFile.Name, []byte(v.KeyFile.Stored))
	rawPut(t, store, "config", unhex(t, v.Config.Stored))
	for _, s := range v.Snapshots {
		rawPut(t, store, s.Name, unhex(t, s.Stored))
	}
	rawPut(t, store, v.Pack.Name, unhex(t, v.Pack.Stored))
	rawPut(t, store, v.Index.Name, unhex(t, v.Index.Stored))
	rawPut(t, store, v.Forgotten.Name, unhex(t, v.Forgotten.Stored))

	r, err := Open(ctx, store, []byte(v.Passphrase), OpenOptions{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	var wantCfg Config
	if err := json.Unmarshal([]byte(v.Config.Body), &wantCfg); err != nil {
		t.Fatal(err)
	}
	if r.Config() != wantCfg || r.Config().PackSize != 16<<20 {
		t.Errorf("config %+v, want %+v", r.Config(), wantCfg)
	}
	gotCfg, _ := json.Marshal(r.Config())
	if string(gotCfg) != v.Config.Body {
		t.Errorf("config re-encodes as\n%s\nwant\n%s", gotCfg, v.Config.Body)
	}
	keys, err := r.ListKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Host != "vector" || !keys[0].Current {
		t.Errorf("keys %+v %v", keys, err)
	}

	for _, s := range v.Snapshots {
		id, err := crypto.ParseID(strings.TrimPrefix(s.Name, "snapshots/"))
		if err != nil {
			t.Fatal(err)
		}
		body, err := r.LoadObject(ctx, KindSnapshot, id)
		if err != nil || string(body) != s.Body {
			t.Errorf("snapshot %s: %q %v", s.Name, body, err)
		}
	}

	idxID, _ := crypto.ParseID(strings.TrimPrefix(v.Index.Name, "index/"))
	body, err := r.LoadObject(ctx, KindIndex, idxID)
	if err != nil || hex.EncodeToString(body) != v.Index.Body {
		t.Errorf("index body %x %v", body, err)
	}
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	blobID, _ := crypto.ParseID(v.Pack.BlobID)
	plain := unhex(t, v.Pack.Plaintext)
	if r.Keys().BlobID(plain) != blobID {
		t.Error("content ID differs")
	}
	got, err := r.LoadBlob(ctx, pack.BlobType(v.Pack.BlobType), blobID)
	if err != nil || !bytes.Equal(got, plain) {
		t.Errorf("blob: %q %v", got, err)
	}
	packID, _ := crypto.ParseID(v.Pack.Name[len("data/xx/"):])
	if PackName(packID) != v.Pack.Name {
		t.Errorf("PackName %s, want %s", PackName(packID), v.Pack.Name)
	}
	entries, size, err := r.ReadPackHeader(ctx, packID)
	if err != nil || len(entries) != 1 || entries[0].ID != blobID || entries[0].Offset != 0 || size != int64(len(v.Pack.Stored)/2) {
		t.Errorf("pack header %+v %d %v", entries, size, err)
	}
	fs, err := r.LoadForgotten(ctx)
	snap0, _ := crypto.ParseID(strings.TrimPrefix(v.Snapshots[0].Name, "snapshots/"))
	if err != nil || len(fs.Snapshots) != 1 || !fs.Snapshots[snap0].Equal(time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("forgotten record: %+v %v", fs, err)
	}
	fb, _ := json.Marshal(Forgotten{Created: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC), Host: "vector", Snapshots: []crypto.ID{snap0}})
	if string(fb) != v.Forgotten.Body {
		t.Errorf("Forgotten encodes as %s, want %s", fb, v.Forgotten.Body)
	}
	// The writer's index encoding matches the vector byte for byte.
	enc := index.Encode([]index.Entry{{ID: blobID, Type: pack.DataBlob, Pack: packID, Offset: 0, Length: entries[0].Length}}, nil)
	if hex.EncodeToString(enc) != v.Index.Body {
		t.Errorf("index.Encode = %x, want %s", enc, v.Index.Body)
	}
}

// TestWriterConformance opens what the real writers produce with the
// independent implementation, so a writer-side format change fails here
// even though nonces are random.
func TestWriterConformance(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	encKey := vecSubkey(r.master[:], "cairn 1 encryption key")
	idKey := vecSubkey(r.master[:], "cairn 1 content id key")

	openPayload := func(sealed []byte, ad string) []byte {
		t.Helper()
		payload, err := vecOpen(encKey, sealed, []byte(ad))
		if err != nil {
			t.Fatalf("independent open (%s): %v", ad, err)
		}
		switch payload[0] {
		case 0:
			return payload[1:]
		case 1:
			dec, _ := zstd.NewReader(nil)
			defer dec.Close()
			b, err := dec.DecodeAll(payload[1:], nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		t.Fatalf("compression byte %d", payload[0])
		return nil
	}

	cfgBody := openPayload(rawGet(t, store, "config"), "cairn 1 config")
	var cfg map[string]any
	if err := json.Unmarshal(cfgBody, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "id", "created", "chunker", "compression", "compression_level", "pack_size"} {
		if _, ok := cfg[k]; !ok {
			t.Errorf("config lacks %q: %s", k, cfgBody)
		}
	}

	body := []byte(strings.Repeat(`{"x":"compressible"}`, 50))
	id, err := r.SaveObject(ctx, KindSnapshot, body)
	if err != nil {
		t.Fatal(err)
	}
	stored := rawGet(t, store, ObjectName(KindSnapshot, id))
	if vecHash(stored) != id.String() {
		t.Error("snapshot name is not the SHA-256 of its bytes")
	}
	if got := openPayload(stored, "cairn 1 snapshot"); !bytes.Equal(got, body) {
		t.Error("snapshot body differs")
	}

	s := r.NewSaver(ctx, SaverOptions{})
	plain := []byte("independently checked blob")
	blobID, _ := s.SaveBlob(ctx, pack.TreeBlob, plain)
	mac := hmac.New(sha256.New, idKey)
	mac.Write(plain)
	if !bytes.Equal(mac.Sum(nil), blobID[:]) {
		t.Error("content ID is not HMAC-SHA-256 under the content id key")
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	packs := names(t, store, "data/")
	if len(packs) != 1 {
		t.Fatal(packs)
	}
	p := rawGet(t, store, packs[0])
	if h := vecHash(p); packs[0] != "data/"+h[:2]+"/"+h {
		t.Errorf("pack name %s", packs[0])
	}
	hlen := int(binary.LittleEndian.Uint32(p[len(p)-4:]))
	hdr := openPayload(append([]byte{}, p[len(p)-4-hlen:len(p)-4]...), "cairn 1 pack header")
	// Format 1.1: a 45-byte entry ending in the plaintext length.
	if string(hdr[:8]) != "CAIRNPK2" || len(hdr) != 12+45 || binary.LittleEndian.Uint32(hdr[8:]) != 1 || hdr[12] != 2 || !bytes.Equal(hdr[13:45], blobID[:]) || binary.LittleEndian.Uint32(hdr[53:]) != uint32(len(plain)) {
		t.Fatalf("pack header %x", hdr)
	}
	off, n := binary.LittleEndian.Uint32(hdr[45:]), binary.LittleEndian.Uint32(hdr[49:])
	ad := append(append([]byte("cairn 1 blob"), 2), blobID[:]...)
	if got := openPayload(p[off:off+n], string(ad)); !bytes.Equal(got, plain) {
		t.Error("blob differs")
	}

	idxNames := names(t, store, "index/")
	if len(idxNames) != 1 {
		t.Fatal(idxNames)
	}
	ib := openPayload(rawGet(t, store, idxNames[0]), "cairn 1 index")
	// Format 1.1: the entry's last 3 bytes hold the plaintext length.
	plainLen := uint32(ib[52+45]) | uint32(ib[52+46])<<8 | uint32(ib[52+47])<<16
	if string(ib[:8]) != "CAIRNIX1" || len(ib) != 20+32+48 || !bytes.Equal(ib[52:84], blobID[:]) || ib[52+44] != 2 || plainLen != uint32(len(plain)) {
		t.Errorf("index body %x", ib)
	}
}
