package restorer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
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

// TestRestoreReplansSentPack: the download starts while the walk goes on,
// so a pack the walk left may be needed again by a later file (here the
// last file repeats the first). Those blobs get a plan and a request of
// their own, and both files are restored exactly.
func TestRestoreReplansSentPack(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "src")
	rng := rand.New(rand.NewPCG(3, 3))
	first := randomBytes(rng, 300<<10)
	writeFile(t, filepath.Join(root, "a-first"), first, 0o644)
	for i := range 2 * packIdle {
		writeFile(t, filepath.Join(root, fmt.Sprintf("m%02d", i)), randomBytes(rng, 300<<10), 0o644)
	}
	writeFile(t, filepath.Join(root, "z-last"), first, 0o644)
	store := newCountingStore(newMemStore())
	testRepo(t, store, smallChunks(), 256<<10)
	snap := backup(t, store, root)
	r := openRepo(t, store)
	node, err := snapshot.FindPath(context.Background(), r, snap.Tree, root+"/a-first")
	if err != nil {
		t.Fatal(err)
	}
	firstPack, _ := r.Index().Lookup(node.Content[0])
	store.reset()
	target := t.TempDir()
	if _, err := Restore(context.Background(), r, snap, Options{Target: target, Connections: 2}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, root, target+root)
	if n := store.reset()[repo.PackName(firstPack.Pack)]; n < 2 {
		t.Errorf("the first file's pack was read %d times; want it read again for the last file (was the walk's download not overlapped?)", n)
	}
}
