package chunker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"
)

func split(t *testing.T, c *Chunker, data []byte) [][]byte {
	t.Helper()
	c.Reset(bytes.NewReader(data))
	var out [][]byte
	for {
		chunk, err := c.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(chunk))
	}
}

func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func smallParams() Params {
	return Params{Algorithm: Algorithm, MinSize: 2 << 10, AvgSize: 8 << 10, MaxSize: 64 << 10}
}

// TestVector pins chunk boundaries for a fixed key and input: they are part
// of the format (changing them silently breaks deduplication).
func TestVector(t *testing.T) {
	c, err := New(smallParams(), bytes.Repeat([]byte{1}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	chunks := split(t, c, testData(256<<10, 42))
	h := sha256.New()
	var total int
	for _, ch := range chunks {
		total += len(ch)
		h.Write([]byte{byte(len(ch) >> 16), byte(len(ch) >> 8), byte(len(ch))})
	}
	if total != 256<<10 {
		t.Fatalf("chunks cover %d bytes", total)
	}
	const want = "e5c115cf6fbb0b3d5ca71fcd98817d22dc47ef4fc48bf043f06af4b254b5cbaf" // 28 chunks; recorded from v1.1.0 of the library, a regression pin
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("%d chunks, boundary digest %s, want %s", len(chunks), got, want)
	}
}

func TestKeyChangesBoundaries(t *testing.T) {
	data := testData(512<<10, 7)
	a, _ := New(smallParams(), bytes.Repeat([]byte{1}, 32), nil)
	b, _ := New(smallParams(), bytes.Repeat([]byte{2}, 32), nil)
	ca, cb := split(t, a, data), split(t, b, data)
	if len(ca) == len(cb) && bytes.Equal(ca[0], cb[0]) && bytes.Equal(ca[1], cb[1]) {
		t.Fatal("different keys gave the same boundaries")
	}
}

func TestSizesAndShiftResistance(t *testing.T) {
	p := smallParams()
	c, _ := New(p, bytes.Repeat([]byte{3}, 32), make([]byte, p.MaxSize*2))
	data := testData(2<<20, 9)
	chunks := split(t, c, data)
	for i, ch := range chunks {
		if len(ch) > p.MaxSize || (i < len(chunks)-1 && len(ch) < p.MinSize) {
			t.Fatalf("chunk %d has %d bytes", i, len(ch))
		}
	}
	if !bytes.Equal(bytes.Join(chunks, nil), data) {
		t.Fatal("chunks do not reassemble the input")
	}
	// Insert bytes near the start: most later chunks must be unchanged.
	shifted := append(append(bytes.Clone(data[:1000]), []byte("inserted!")...), data[1000:]...)
	seen := map[string]bool{}
	for _, ch := range chunks {
		seen[string(ch)] = true
	}
	var same int
	after := split(t, c, shifted)
	for _, ch := range after {
		if seen[string(ch)] {
			same++
		}
	}
	if same < len(after)-3 {
		t.Fatalf("only %d of %d chunks survived an insertion", same, len(after))
	}
	if got := split(t, c, nil); len(got) != 0 {
		t.Fatalf("empty input gave %d chunks", len(got))
	}
	if got := split(t, c, []byte("tiny")); len(got) != 1 || string(got[0]) != "tiny" {
		t.Fatalf("tiny input gave %q", got)
	}
}

func BenchmarkChunk(b *testing.B) {
	p := DefaultParams()
	c, _ := New(p, bytes.Repeat([]byte{1}, 32), nil)
	data := testData(64<<20, 1)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		c.Reset(bytes.NewReader(data))
		for {
			if _, err := c.Next(); err != nil {
				break
			}
		}
	}
}

func TestCheck(t *testing.T) {
	good := DefaultParams()
	if err := Check(good); err != nil {
		t.Errorf("default params: %v", err)
	}
	huge := good
	huge.MaxSize = MaxChunkSize * 2
	if err := Check(huge); err == nil {
		t.Errorf("Check accepted max_size %d", huge.MaxSize)
	}
	huge.MaxSize = MaxChunkSize
	if err := Check(huge); err != nil {
		t.Errorf("max_size %d: %v", huge.MaxSize, err)
	}
	bad := good
	bad.Algorithm = "rabin"
	if err := Check(bad); err == nil {
		t.Errorf("Check accepted %+v", bad)
	}
	if _, err := New(bad, make([]byte, 32), nil); err == nil {
		t.Errorf("New accepted %+v", bad)
	}
}
