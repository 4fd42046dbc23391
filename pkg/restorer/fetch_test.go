package restorer

import (
	"math/rand/v2"
	"testing"
)

// TestSplitPack: the pieces of a pack plan hold each blob once, in offset
// order, none much larger than the piece size unless a single blob is, and
// a small plan stays whole.
func TestSplitPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{1, 2, 10, 300} {
		pp := &packPlan{}
		var off uint32
		for range n {
			l := uint32(rng.IntN(2<<20) + 1)
			pp.blobs = append(pp.blobs, &blobPlan{offset: off, length: l, pack: pp})
			off += l + uint32(rng.IntN(100))
		}
		rng.Shuffle(len(pp.blobs), func(i, j int) { pp.blobs[i], pp.blobs[j] = pp.blobs[j], pp.blobs[i] })
		const size = 4 << 20
		pieces := splitPack(pp, size)
		seen := make(map[*blobPlan]bool)
		var last uint32
		for i, piece := range pieces {
			var sum int64
			for _, bp := range piece.blobs {
				if seen[bp] {
					t.Fatalf("%d blobs: blob at %d in two pieces", n, bp.offset)
				}
				if len(seen) > 0 && bp.offset <= last {
					t.Fatalf("%d blobs: piece %d out of offset order", n, i)
				}
				seen[bp], last = true, bp.offset
				sum += int64(bp.length)
			}
			if sum > size+size/2+2<<20 { // the remainder of a pack joins the last piece
				t.Errorf("%d blobs: piece %d holds %d bytes", n, i, sum)
			}
		}
		if len(seen) != n {
			t.Fatalf("%d blobs: pieces hold %d", n, len(seen))
		}
		if off < size && len(pieces) != 1 {
			t.Errorf("%d blobs (%d bytes): split into %d pieces", n, off, len(pieces))
		}
	}
}
