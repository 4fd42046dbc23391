package pack

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/klauspost/compress/zstd"
)

func testKeys() *crypto.Keys { return crypto.DeriveKeys(crypto.MasterKey{9}) }

func buildPack(t testing.TB, keys *crypto.Keys, blobs map[crypto.ID][]byte) ([]byte, []Entry) {
	enc, _ := zstd.NewWriter(nil)
	var b Builder
	for id, plain := range blobs {
		b.Add(DataBlob, id, SealBlob(keys, nil, DataBlob, id, Compress(enc, nil, plain)), len(plain))
	}
	return b.Finish(keys)
}

func TestPackRoundTripAndTamper(t *testing.T) {
	keys := testKeys()
	h := keys.NewIDHasher()
	dec, _ := zstd.NewReader(nil)
	blobs := map[crypto.ID][]byte{}
	for _, s := range []string{"alpha", "beta beta beta beta beta beta beta beta beta beta beta beta beta beta", ""} {
		blobs[h.Sum([]byte(s))] = []byte(s)
	}
	data, entries := buildPack(t, keys, blobs)
	hl, err := HeaderLength(data)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseHeader(keys, data[len(data)-4-hl:len(data)-4], int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed) != len(entries) {
		t.Fatalf("header lists %d blobs, want %d", len(parsed), len(entries))
	}
	for i, e := range parsed {
		if e != entries[i] {
			t.Fatalf("entry %d = %+v, want %+v", i, e, entries[i])
		}
		plain, err := OpenBlob(keys, h, dec, e.Type, e.ID, data[e.Offset:e.Offset+e.Length], 1<<20)
		if err != nil || !bytes.Equal(plain, blobs[e.ID]) {
			t.Fatalf("blob %d: %q, %v", i, plain, err)
		}
		// A blob moved to another ID or type fails authentication.
		other := parsed[(i+1)%len(parsed)].ID
		if _, err := OpenBlob(keys, h, dec, e.Type, other, data[e.Offset:e.Offset+e.Length], 1<<20); !errors.Is(err, crypto.ErrAuth) {
			t.Fatalf("blob under another ID: %v", err)
		}
		if _, err := OpenBlob(keys, h, dec, TreeBlob, e.ID, data[e.Offset:e.Offset+e.Length], 1<<20); !errors.Is(err, crypto.ErrAuth) {
			t.Fatalf("blob under another type: %v", err)
		}
	}
	// Every flipped byte is detected: in a blob by OpenBlob, in the header
	// by ParseHeader, in the length by HeaderLength/ParseHeader.
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x40
		if err := verifyPack(keys, h, dec, bad); err == nil {
			t.Fatalf("flipped byte %d of %d went unnoticed", i, len(data))
		}
	}
}

func verifyPack(keys *crypto.Keys, h *crypto.IDHasher, dec *zstd.Decoder, data []byte) error {
	hl, err := HeaderLength(data)
	if err != nil {
		return err
	}
	if hl+4 > len(data) {
		return ErrCorrupt
	}
	entries, err := ParseHeader(keys, data[len(data)-4-hl:len(data)-4], int64(len(data)))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, err := OpenBlob(keys, h, dec, e.Type, e.ID, data[e.Offset:e.Offset+e.Length], 1<<20); err != nil {
			return err
		}
	}
	return nil
}

func TestCompressKeepsSmaller(t *testing.T) {
	enc, _ := zstd.NewWriter(nil)
	dec, _ := zstd.NewReader(nil)
	text := bytes.Repeat([]byte("compressible "), 1000)
	p := Compress(enc, nil, text)
	if p[0] != CompressionZstd || len(p) >= len(text) {
		t.Fatalf("text stored as %d (%d bytes)", p[0], len(p))
	}
	if _, err := Decompress(dec, nil, p, 100); err == nil {
		t.Fatal("decompression bomb limit not enforced")
	}
	out, err := Decompress(dec, nil, p, 1<<20)
	if err != nil || !bytes.Equal(out, text) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := Decompress(dec, nil, []byte{7, 1, 2}, 10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown compression: %v", err)
	}
}

// TestEncodeBlob checks that EncodeBlob makes blobs OpenBlob reads, as
// SealBlob over Compress does, compressed or raw, reusing its buffer.
func TestEncodeBlob(t *testing.T) {
	keys := testKeys()
	h := keys.NewIDHasher()
	enc, _ := zstd.NewWriter(nil)
	dec, _ := zstd.NewReader(nil)
	random := make([]byte, 5000)
	for i := range random {
		random[i] = byte(i*7919 + i>>3*31)
	}
	var buf []byte
	for _, body := range [][]byte{bytes.Repeat([]byte("compressible "), 1000), random, []byte("tiny")} {
		id := h.Sum(body)
		for _, e := range []*zstd.Encoder{enc, nil} {
			want := SealBlob(keys, nil, TreeBlob, id, Compress(e, nil, body))
			buf = EncodeBlob(e, keys, buf, TreeBlob, id, body)
			if len(buf) != len(want) {
				t.Errorf("%d-byte body: %d bytes sealed, want %d", len(body), len(buf), len(want))
			}
			got, err := OpenBlob(keys, h, dec, TreeBlob, id, buf, 1<<20)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("%d-byte body: round trip: %v", len(body), err)
			}
			if _, err := OpenBlob(keys, h, dec, DataBlob, id, buf, 1<<20); err == nil {
				t.Fatal("blob opened as the wrong type")
			}
		}
	}
	before := &buf[:1][0]
	buf = EncodeBlob(enc, keys, buf, DataBlob, h.Sum([]byte("tiny")), []byte("tiny"))
	if &buf[0] != before {
		t.Error("EncodeBlob did not reuse a large enough buffer")
	}
}

// FuzzParseHeader seals the fuzzer's input as a pack header with the test
// key, so every input passes authentication and exercises the decoder and
// its range checks: the plaintext is what a key holder could write. packSize
// is fuzzed too. Accepted entries must lie inside the blob area.
func FuzzParseHeader(f *testing.F) {
	keys := testKeys()
	h := keys.NewIDHasher()
	data, _ := buildPack(f, keys, map[crypto.ID][]byte{h.Sum([]byte("x")): []byte("x"), h.Sum([]byte("y")): []byte("y")})
	hl, _ := HeaderLength(data)
	plain, err := keys.Open(nil, data[len(data)-4-hl:len(data)-4], []byte(headerAD))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain, int64(len(data)))
	f.Add(plain[:len(plain)-1], int64(len(data)))
	f.Add([]byte{0}, int64(100))
	f.Add(append([]byte{0}, headerMagic+"\xff\xff\xff\xff"...), int64(1<<20))
	f.Fuzz(func(t *testing.T, body []byte, packSize int64) {
		sealed := keys.Seal(nil, body, []byte(headerAD))
		entries, err := ParseHeader(keys, sealed, packSize)
		if err != nil {
			return
		}
		area := packSize - int64(len(sealed)) - 4
		for _, e := range entries {
			if !e.Type.Valid() || int64(e.Offset)+int64(e.Length) > area {
				t.Fatalf("accepted entry %+v outside a blob area of %d bytes", e, area)
			}
		}
	})
}

// FuzzOpenBlob seals the fuzzer's input as a blob payload (compression byte
// and body) under the test key, so decompression and the ID check see
// every input. A blob that opens must hash to its ID.
func FuzzOpenBlob(f *testing.F) {
	keys := testKeys()
	h := keys.NewIDHasher()
	enc, _ := zstd.NewWriter(nil)
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(1<<24))
	id := h.Sum([]byte("blob"))
	f.Add(Compress(enc, nil, []byte("blob")), uint8(1))
	f.Add(Compress(enc, nil, bytes.Repeat([]byte("blob"), 1000)), uint8(1))
	f.Add([]byte("\x00blob"), uint8(1))
	f.Add([]byte("\x01\x28\xb5\x2f\xfd\x00\x00"), uint8(2))
	f.Add([]byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, payload []byte, typ uint8) {
		bt := BlobType(typ%3 + 1)
		sealed := SealBlob(keys, nil, bt, id, payload)
		plain, err := OpenBlob(keys, h, dec, bt, id, sealed, 1<<20)
		if err == nil && string(plain) != "blob" {
			t.Fatalf("opened %q as blob %s", plain, id.Short())
		}
		if err == nil && len(plain) > 1<<20 {
			t.Fatalf("OpenBlob returned %d bytes above its limit", len(plain))
		}
		// The borrowing variant, with buffers a previous blob left dirty,
		// must agree with OpenBlob on every input.
		scratch, out := bytes.Repeat([]byte{0xee}, 64), bytes.Repeat([]byte{0xee}, 64)
		borrowed, berr := OpenBlobBorrowed(keys, h, dec, bt, id, sealed, 1<<20, &scratch, &out)
		if (err == nil) != (berr == nil) || string(borrowed) != string(plain) {
			t.Fatalf("OpenBlob gave %q, %v; OpenBlobBorrowed %q, %v", plain, err, borrowed, berr)
		}
	})
}

func BenchmarkSealBlob(b *testing.B) {
	keys := testKeys()
	data := bytes.Repeat([]byte{1, 2, 3, 4}, 256<<10)
	id := keys.BlobID(data)
	dst := make([]byte, 0, len(data)+crypto.Overhead)
	b.SetBytes(int64(len(data)))
	for range b.N {
		dst = SealBlob(keys, dst[:0], DataBlob, id, data)
	}
}

func BenchmarkHash(b *testing.B) {
	keys := testKeys()
	h := keys.NewIDHasher()
	data := bytes.Repeat([]byte{1, 2, 3, 4}, 256<<10)
	b.SetBytes(int64(len(data)))
	for range b.N {
		h.Sum(data)
	}
}

func BenchmarkCompressText(b *testing.B) {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	data := bytes.Repeat([]byte("a line of log text 12345\n"), 40000)
	dst := make([]byte, 0, len(data))
	b.SetBytes(int64(len(data)))
	for range b.N {
		dst = Compress(enc, dst, data)
	}
}

// TestBuilderReset checks that a reset builder writes the same pack into the
// given buffer, reusing its memory, whatever the buffer held before.
func TestBuilderReset(t *testing.T) {
	keys := testKeys()
	h := keys.NewIDHasher()
	blobs := [][]byte{[]byte("first blob"), bytes.Repeat([]byte("second "), 100)}
	build := func(b *Builder) []byte {
		for _, plain := range blobs {
			id := h.Sum(plain)
			b.Add(DataBlob, id, SealBlob(keys, nil, DataBlob, id, Compress(nil, nil, plain)), len(plain))
		}
		data, _ := b.Finish(keys)
		return data
	}
	var fresh Builder
	want := build(&fresh)

	buf := bytes.Repeat([]byte{0xff}, 4096)
	var b Builder
	b.Reset(buf)
	got := build(&b)
	if &got[0] != &buf[0] {
		t.Error("Finish did not use the buffer given to Reset")
	}
	// Blobs are sealed with random nonces, so compare the layout.
	if len(got) != len(want) {
		t.Fatalf("pack of %d bytes, want %d", len(got), len(want))
	}
	hl, err := HeaderLength(got)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseHeader(keys, got[len(got)-4-hl:len(got)-4], int64(len(got)))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(blobs) || entries[0].Offset != 0 || entries[1].Offset != entries[0].Length {
		t.Fatalf("entries %+v", entries)
	}
	b.Reset(got)
	if b.Size() != 0 || b.Count() != 0 {
		t.Fatalf("after Reset: size %d, %d blobs", b.Size(), b.Count())
	}
}
