package chunker

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// This file is an independent implementation of the chunker as FORMAT.md
// section 5 and appendix A describe it, written from that text alone (it
// shares no code with go-cdc-chunkers, not even BLAKE3). TestSpecVectors
// checks that it, the real chunker and testdata/vectors.json agree, so the
// page is complete enough for another implementation to cut the same
// chunks and deduplicate against cairn's repositories.

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the independent implementation")

const (
	specFile    = "../repo/FORMAT.md"
	vectorsFile = "testdata/vectors.json"
)

// specBaseTable reads the base gear table B from FORMAT.md appendix A.
func specBaseTable(t *testing.T) [256]uint64 {
	t.Helper()
	f, err := os.Open(specFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var table [256]uint64
	n, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```gear-table":
			in = true
		case in && line == "```":
			in = false
		case in:
			for _, w := range strings.Fields(line) {
				v, err := strconv.ParseUint(strings.TrimPrefix(w, "0x"), 16, 64)
				if err != nil || n == 256 {
					t.Fatalf("gear table word %d %q: %v", n, w, err)
				}
				table[n] = v
				n++
			}
		}
	}
	if n != 256 {
		t.Fatalf("FORMAT.md appendix A holds %d words, want 256", n)
	}
	return table
}

// BLAKE3 in keyed-hash mode with extended output, for inputs of whole
// 1 KiB chunks up to two of them (all the derivation needs: 2048 bytes).

var blake3IV = [8]uint32{0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19}

const (
	b3ChunkStart = 1 << 0
	b3ChunkEnd   = 1 << 1
	b3Parent     = 1 << 2
	b3Root       = 1 << 3
	b3Keyed      = 1 << 4
)

func b3Compress(cv [8]uint32, block [16]uint32, counter uint64, blockLen, flags uint32) [16]uint32 {
	s := [16]uint32{cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
		blake3IV[0], blake3IV[1], blake3IV[2], blake3IV[3],
		uint32(counter), uint32(counter >> 32), blockLen, flags}
	g := func(a, b, c, d int, x, y uint32) {
		s[a] += s[b] + x
		s[d] = bits.RotateLeft32(s[d]^s[a], -16)
		s[c] += s[d]
		s[b] = bits.RotateLeft32(s[b]^s[c], -12)
		s[a] += s[b] + y
		s[d] = bits.RotateLeft32(s[d]^s[a], -8)
		s[c] += s[d]
		s[b] = bits.RotateLeft32(s[b]^s[c], -7)
	}
	perm := [16]int{2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8}
	m := block
	for round := range 7 {
		g(0, 4, 8, 12, m[0], m[1])
		g(1, 5, 9, 13, m[2], m[3])
		g(2, 6, 10, 14, m[4], m[5])
		g(3, 7, 11, 15, m[6], m[7])
		g(0, 5, 10, 15, m[8], m[9])
		g(1, 6, 11, 12, m[10], m[11])
		g(2, 7, 8, 13, m[12], m[13])
		g(3, 4, 9, 14, m[14], m[15])
		if round < 6 {
			var next [16]uint32
			for i := range next {
				next[i] = m[perm[i]]
			}
			m = next
		}
	}
	for i := range 8 {
		s[i] ^= s[i+8]
		s[i+8] ^= cv[i]
	}
	return s
}

func b3Words(b []byte) (w [16]uint32) {
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

// blake3KeyedXOF returns outLen bytes of BLAKE3's keyed hash of input
// (one or two whole 1024-byte chunks).
func blake3KeyedXOF(key, input []byte, outLen int) []byte {
	if len(key) != 32 || (len(input) != 1024 && len(input) != 2048) {
		panic("blake3KeyedXOF: unsupported sizes")
	}
	var k [8]uint32
	kw := b3Words(append(bytes.Clone(key), make([]byte, 32)...))
	copy(k[:], kw[:8])
	// Each chunk: 16 blocks chained from the key; the last compression's
	// inputs are kept, for it is the root when there is one chunk.
	type node struct {
		cv       [8]uint32
		block    [16]uint32
		counter  uint64
		blockLen uint32
		flags    uint32
	}
	chunk := func(idx int, data []byte) node {
		cv := k
		var last node
		for j := range 16 {
			flags := uint32(b3Keyed)
			if j == 0 {
				flags |= b3ChunkStart
			}
			if j == 15 {
				flags |= b3ChunkEnd
				last = node{cv, b3Words(data[64*j:]), uint64(idx), 64, flags}
				break
			}
			out := b3Compress(cv, b3Words(data[64*j:]), uint64(idx), 64, flags)
			copy(cv[:], out[:8])
		}
		return last
	}
	root := chunk(0, input[:1024])
	if len(input) == 2048 {
		cvOf := func(n node) [8]uint32 {
			out := b3Compress(n.cv, n.block, n.counter, n.blockLen, n.flags)
			return [8]uint32(out[:8])
		}
		left, right := cvOf(root), cvOf(chunk(1, input[1024:]))
		var block [16]uint32
		copy(block[:8], left[:])
		copy(block[8:], right[:])
		root = node{k, block, 0, 64, b3Keyed | b3Parent}
	}
	var out []byte
	for counter := uint64(0); len(out) < outLen; counter++ {
		words := b3Compress(root.cv, root.block, counter, root.blockLen, root.flags|b3Root)
		for _, w := range words {
			out = binary.LittleEndian.AppendUint32(out, w)
		}
	}
	return out[:outLen]
}

// specGearTable derives the keyed gear table (FORMAT.md section 5).
func specGearTable(base [256]uint64, key []byte) [256]uint64 {
	var in []byte
	for _, w := range base {
		in = binary.LittleEndian.AppendUint64(in, w)
	}
	x := blake3KeyedXOF(key, in, 2048)
	var g [256]uint64
	for i := range g {
		g[i] = binary.LittleEndian.Uint64(x[8*i:])
	}
	return g
}

// specSpacedMask has k one bits at 63, 63-s, 63-2s, … with s = 64/k.
func specSpacedMask(k int) uint64 {
	if k >= 64 {
		return ^uint64(0)
	}
	var m uint64
	for j := 0; j < k; j++ {
		m |= 1 << (63 - j*(64/k))
	}
	return m
}

func specMasks(p Params) (small, large uint64) {
	if p.MinSize == 2048 && p.AvgSize == 8192 && p.MaxSize == 65536 {
		return 0x0003590703530000, 0x0000d90003530000
	}
	b := bits.Len(uint(p.AvgSize)) - 1 // log2 of a power of two
	return specSpacedMask(b + 2), specSpacedMask(b - 2)
}

// specCuts returns the end offsets of the chunks of one file.
func specCuts(p Params, g [256]uint64, data []byte) []int {
	maskS, maskL := specMasks(p)
	var cuts []int
	for start := 0; start < len(data); {
		n := min(len(data)-start, p.MaxSize)
		size := n
		if n > p.MinSize {
			var fp uint64
			for i := p.MinSize; i < n; i++ {
				fp = fp<<1 + g[data[start+i]]
				mask := maskS
				if i >= p.AvgSize {
					mask = maskL
				}
				if fp&mask == 0 {
					size = i
					break
				}
			}
		}
		start += size
		cuts = append(cuts, start)
	}
	return cuts
}

// vectorInput is the test input: SHA-256(seed || uint64le(i)) for i = 0,
// 1, …, concatenated and cut to size; or size zero bytes for seed "zeros".
func vectorInput(seed string, size int) []byte {
	if seed == "zeros" {
		return make([]byte, size)
	}
	out := make([]byte, 0, size+32)
	for i := uint64(0); len(out) < size; i++ {
		h := sha256.Sum256(binary.LittleEndian.AppendUint64([]byte(seed), i))
		out = append(out, h[:]...)
	}
	return out[:size]
}

type chunkerVector struct {
	Name      string `json:"name"`
	Key       string `json:"key"` // hex, the chunker key
	MinSize   int    `json:"min_size"`
	AvgSize   int    `json:"avg_size"`
	MaxSize   int    `json:"max_size"`
	MaskS     string `json:"mask_s"`
	MaskL     string `json:"mask_l"`
	GearFirst string `json:"gear_first"` // G[0], G[1], G[255] of the derived table
	Seed      string `json:"input_seed"`
	Size      int    `json:"input_size"`
	Cuts      []int  `json:"cuts"` // end offset of each chunk
}

type chunkerVectors struct {
	Comment string          `json:"comment"`
	Vectors []chunkerVector `json:"vectors"`
}

func buildChunkerVectors(t *testing.T) chunkerVectors {
	base := specBaseTable(t)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	other := bytes.Repeat([]byte{0xa5}, 32)
	cases := []struct {
		name          string
		key           []byte
		min, avg, max int
		seed          string
		size          int
	}{
		{"cairn defaults", key, 512 << 10, 1 << 20, 8 << 20, "cairn chunker vector", 40 << 20},
		{"2/8/64 KiB: the library's fixed masks", key, 2 << 10, 8 << 10, 64 << 10, "cairn chunker vector", 1 << 20},
		{"4/16/64 KiB, another key", other, 4 << 10, 16 << 10, 64 << 10, "another input", 1 << 20},
		{"zeros: cut at max_size", key, 2 << 10, 8 << 10, 32 << 10, "zeros", 100 << 10},
		{"a file shorter than min_size", key, 512 << 10, 1 << 20, 8 << 20, "short", 1000},
	}
	v := chunkerVectors{Comment: "FORMAT.md section 5 chunker vectors, computed by the independent implementation in spec_test.go; input: SHA-256(seed || uint64le(i)) for i = 0, 1, ... concatenated and cut to input_size (seed \"zeros\": zero bytes); cuts: end offset of each chunk. Regenerate with go test -run TestSpecVectors -update."}
	for _, c := range cases {
		p := Params{Algorithm: Algorithm, MinSize: c.min, AvgSize: c.avg, MaxSize: c.max}
		g := specGearTable(base, c.key)
		ms, ml := specMasks(p)
		v.Vectors = append(v.Vectors, chunkerVector{
			Name: c.name, Key: hex.EncodeToString(c.key), MinSize: c.min, AvgSize: c.avg, MaxSize: c.max,
			MaskS: fmt.Sprintf("%#016x", ms), MaskL: fmt.Sprintf("%#016x", ml),
			GearFirst: fmt.Sprintf("%#016x %#016x %#016x", g[0], g[1], g[255]),
			Seed:      c.seed, Size: c.size, Cuts: specCuts(p, g, vectorInput(c.seed, c.size)),
		})
	}
	return v
}

func TestSpecVectors(t *testing.T) {
	built := buildChunkerVectors(t)
	if *update {
		out, _ := json.MarshalIndent(built, "", "  ")
		if err := os.WriteFile(vectorsFile, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var stored chunkerVectors
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if len(stored.Vectors) != len(built.Vectors) {
		t.Fatalf("%s has %d vectors, the independent implementation %d", vectorsFile, len(stored.Vectors), len(built.Vectors))
	}
	for i, v := range stored.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if b := built.Vectors[i]; !slices.Equal(b.Cuts, v.Cuts) || b.MaskS != v.MaskS || b.MaskL != v.MaskL || b.GearFirst != v.GearFirst {
				t.Errorf("the independent implementation disagrees with %s:\n%+v\nwant\n%+v", vectorsFile, b, v)
			}
			key, err := hex.DecodeString(v.Key)
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(Params{Algorithm: Algorithm, MinSize: v.MinSize, AvgSize: v.AvgSize, MaxSize: v.MaxSize}, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			var cuts []int
			end := 0
			for _, ch := range split(t, c, vectorInput(v.Seed, v.Size)) {
				end += len(ch)
				cuts = append(cuts, end)
			}
			if !slices.Equal(cuts, v.Cuts) {
				t.Errorf("the chunker cuts at\n%v\nthe vector at\n%v", cuts, v.Cuts)
			}
			if len(v.Cuts) < 2 && v.Size > v.MaxSize {
				t.Errorf("a vector of %d bytes with %d cuts tests little", v.Size, len(v.Cuts))
			}
		})
	}
}

// TestSpecBLAKE3 checks the independent BLAKE3 against the official test
// vectors (BLAKE3 repository, test_vectors.json: keyed_hash of the input
// bytes i % 251 under the key "whats the Elvish word for friend", 131
// bytes of extended output).
func TestSpecBLAKE3(t *testing.T) {
	for size, want := range map[int]string{
		1024: "75c46f6f3d9eb4f55ecaaee480db732e6c2105546f1e675003687c31719c7ba4a78bc838c72852d4f49c864acb7adafe2478e824afe51c8919d06168414c265f298a8094b1ad813a9b8614acabac321f24ce61c5a5346eb519520d38ecc43e89b5000236df0597243e4d2493fd626730e2ba17ac4d8824d09d1a4a8f57b8227778e2de",
		2048: "879cf1fa2ea0e79126cb1063617a05b6ad9d0b696d0d757cf053439f60a99dd10173b961cd574288194b23ece278c330fbb8585485e74967f31352a8183aa782b2b22f26cdcadb61eed1a5bc144b8198fbb0c13abbf8e3192c145d0a5c21633b0ef86054f42809df823389ee40811a5910dcbd1018af31c3b43aa55201ed4edaac74fe",
	} {
		in := make([]byte, size)
		for i := range in {
			in[i] = byte(i % 251)
		}
		if got := hex.EncodeToString(blake3KeyedXOF([]byte("whats the Elvish word for friend"), in, 131)); got != want {
			t.Errorf("keyed_hash of %d bytes = %s, want %s", size, got, want)
		}
	}
}
