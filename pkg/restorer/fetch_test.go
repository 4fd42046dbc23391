package restorer

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
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
// last file repeats the first). Within the horizon the pack is kept
// unsent and read once. Past it (a horizon of 0 here) those blobs get a
// plan of their own, read with one more request; both files are restored
// exactly either way.
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
	names := []string{"a-first"}
	for i := range 2 * packIdle {
		names = append(names, fmt.Sprintf("m%02d", i))
	}
	names = append(names, "z-last")
	// plans replays the walk's planning and counts the plans of firstPack.
	plans := func(horizon uint64) int {
		b := newBatch()
		for _, name := range names {
			n, err := snapshot.FindPath(context.Background(), r, snap.Tree, root+"/"+name)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.addFile(r.Index(), newFileState(name, "", n)); err != nil {
				t.Fatal(err)
			}
			b.take(packIdle, horizon)
		}
		count := 0
		for _, pp := range b.packs {
			if pp.id == firstPack.Pack {
				count++
			}
		}
		return count
	}
	for _, tc := range []struct {
		name     string
		horizon  uint64
		plans    int
		min, max int
	}{
		{"within the horizon", packHorizon, 1, 1, 1},
		{"past the horizon", 0, 2, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := plans(tc.horizon); n != tc.plans {
				t.Fatalf("the first file's pack is planned %d times, want %d", n, tc.plans)
			}
			store.reset()
			target := t.TempDir()
			_, err := restore(context.Background(), r, snap, Options{Target: target, Connections: 2}, func(rs *restorer) { rs.horizon = tc.horizon })
			if err != nil {
				t.Fatal(err)
			}
			compareTrees(t, root, target+root)
			if n := store.reset()[repo.PackName(firstPack.Pack)]; n < tc.min || n > tc.max {
				t.Errorf("the first file's pack was read %d times; want %d to %d", n, tc.min, tc.max)
			}
		})
	}
}

// collectSink keeps what a download delivers.
type collectSink struct {
	mu     sync.Mutex
	got    map[crypto.ID][]byte
	failed []error
}

func (c *collectSink) blob(bp *blobPlan, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[bp.id] = bytes.Clone(data)
}

func (c *collectSink) fail(bp *blobPlan, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = append(c.failed, err)
}

// TestFetchPackRevisit: a pack fetched a second time (a revisit plan)
// reads the blobs it needs without reading through the gaps between them.
func TestFetchPackRevisit(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(4, 4))
	writeFile(t, filepath.Join(dir, "f"), randomBytes(rng, 900<<10), 0o644)
	store := newCountingStore(newMemStore())
	testRepo(t, store, smallChunks(), 4<<20)
	snap := backup(t, store, dir)
	r := openRepo(t, store)
	node, err := snapshot.FindPath(context.Background(), r, snap.Tree, dir+"/f")
	if err != nil {
		t.Fatal(err)
	}
	if len(node.Content) < 4 {
		t.Fatalf("test setup: %d blobs, want at least 4 in one pack", len(node.Content))
	}
	plan := func(ids []crypto.ID, revisit bool) *packPlan {
		pp := &packPlan{revisit: revisit}
		for _, id := range ids {
			e, ok := r.Index().Lookup(id)
			if !ok {
				t.Fatalf("blob %s not indexed", id.Short())
			}
			pp.id = e.Pack
			pp.blobs = append(pp.blobs, &blobPlan{id: id, offset: e.Offset, length: e.Length, pack: pp, recorded: e.PlainLen})
		}
		return pp
	}
	content := node.Content
	first := []crypto.ID{content[0], content[1]}
	sink := &collectSink{got: map[crypto.ID][]byte{}}
	store.reset()
	if err := fetchPack(t.Context(), r, plan(first, false), sink); err != nil {
		t.Fatal(err)
	}
	if n := len(store.reset()); n != 1 {
		t.Fatalf("first fetch: %d packs read, want 1", n)
	}
	// Again, as a revisit: the first blob and the last, each read alone,
	// not through the blobs between (a revisit reads no 4 MiB gaps).
	again := []crypto.ID{content[0], content[len(content)-1]}
	sink2 := &collectSink{got: map[crypto.ID][]byte{}}
	store.resetBytes()
	if err := fetchPack(t.Context(), r, plan(again, true), sink2); err != nil {
		t.Fatal(err)
	}
	head, _ := r.Index().Lookup(content[0])
	last, _ := r.Index().Lookup(content[len(content)-1])
	if last.Offset-(head.Offset+head.Length) <= revisitGap {
		t.Fatalf("test setup: the gap between the blobs is %d bytes, want more than %d", last.Offset-(head.Offset+head.Length), revisitGap)
	}
	if got, want := store.resetBytes(), int64(head.Length+last.Length); got != want {
		t.Errorf("second fetch read %d bytes, want only the two blobs' %d", got, want)
	}
	for _, id := range again {
		want, err := r.LoadBlob(t.Context(), pack.DataBlob, id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sink2.got[id], want) {
			t.Errorf("blob %s delivered wrong (%d bytes)", id.Short(), len(sink2.got[id]))
		}
	}
	if len(sink.failed)+len(sink2.failed) != 0 {
		t.Errorf("failures: %v %v", sink.failed, sink2.failed)
	}
}
