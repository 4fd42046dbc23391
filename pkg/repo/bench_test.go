package repo

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// benchmarkSaveBlob saves distinct 1 MiB blobs from parallel goroutines into
// an in-memory store; b.SetBytes makes it report MB/s of plaintext.
func benchmarkSaveBlob(b *testing.B, compressible bool) {
	ctx := context.Background()
	store, _ := newTestRepo(b, testInitOptions())
	// Packs go nowhere, so that the benchmark measures the pipeline (hash,
	// compress, seal, pack) rather than the in-memory store's copying.
	r := openTestRepo(b, discardPacks{store}, OpenOptions{})
	rng := rand.New(rand.NewPCG(1, 2))
	base := make([]byte, 1<<20)
	if compressible {
		copy(base, bytes.Repeat([]byte("cairn benchmark line: the quick brown fox jumps\n"), len(base)/48+1))
		for i := 0; i < len(base); i += 64 {
			base[i] = byte(rng.Uint32()) // not trivially compressible
		}
	} else {
		for i := range base {
			base[i] = byte(rng.Uint32())
		}
	}
	s := r.NewSaver(ctx, SaverOptions{})
	var counter atomic.Uint64
	b.SetBytes(int64(len(base)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		blob := bytes.Clone(base)
		for pb.Next() {
			n := counter.Add(1)
			blob[0], blob[1], blob[2], blob[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
			if _, err := s.SaveBlob(ctx, pack.DataBlob, blob); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

type discardPacks struct{ storage.Store }

func (d discardPacks) Put(ctx context.Context, name string, data []byte) error {
	if strings.HasPrefix(name, "data/") {
		return ctx.Err()
	}
	return d.Store.Put(ctx, name, data)
}

func BenchmarkSaveBlobCompressible(b *testing.B) { benchmarkSaveBlob(b, true) }
func BenchmarkSaveBlobRandom(b *testing.B)       { benchmarkSaveBlob(b, false) }
