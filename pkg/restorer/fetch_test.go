package restorer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
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
// unsent. Past it (a horizon of 0 here) the plan is sent, and the later
// file joins the blob's plan as long as the blob has not been delivered;
// once it has, the blob gets a plan of its own, read with one more
// request. Both files are restored exactly either way.
func TestRestoreReplansSentPack(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "src")
	rng := rand.New(rand.NewPCG(3, 3))
	first := randomBytes(rng, 300<<10)
	writeFile(t, filepath.Join(root, "a-first"), first, 0o644)
	names := []string{"a-first"}
	for i := range 2 * packIdle {
		name := fmt.Sprintf("m%02d", i)
		writeFile(t, filepath.Join(root, name), randomBytes(rng, 300<<10), 0o644)
		names = append(names, name)
	}
	writeFile(t, filepath.Join(root, "z-last"), first, 0o644)
	names = append(names, "z-last")
	store := newCountingStore(newMemStore())
	testRepo(t, store, smallChunks(), 256<<10)
	snap := backup(t, store, root)
	r := openRepo(t, store)
	node, err := snapshot.FindPath(context.Background(), r, snap.Tree, root+"/a-first")
	if err != nil {
		t.Fatal(err)
	}
	firstPack, _ := r.Index().Lookup(node.Content[0])
	// plan replays the walk's planning without a download; deliver starts
	// the plans sent so far and seals their blobs, as their download
	// would. It returns the plans of firstPack.
	plan := func(horizon uint64, deliver bool) []*packPlan {
		b := newBatch()
		for _, name := range names {
			n, err := snapshot.FindPath(context.Background(), r, snap.Tree, root+"/"+name)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.addFile(r.Index(), newFileState(name, "", n)); err != nil {
				t.Fatal(err)
			}
			for _, pp := range b.take(packIdle, horizon) {
				if deliver {
					pp.start()
					for _, bp := range pp.blobs {
						bp.seal()
					}
				}
			}
		}
		var out []*packPlan
		for _, pp := range b.packs {
			if pp.id == firstPack.Pack {
				out = append(out, pp)
			}
		}
		return out
	}
	if pps := plan(packHorizon, true); len(pps) != 1 || pps[0].sent {
		t.Errorf("within the horizon: %d plans of the first pack (want 1, unsent until the walk ends)", len(pps))
	}
	if pps := plan(0, false); len(pps) != 1 || !pps[0].sent || len(pps[0].blobs[0].targets) != 2 {
		t.Errorf("past the horizon, not delivered: %d plans of the first pack, want 1 (sent) whose blob goes to both files", len(pps))
	}
	if pps := plan(0, true); len(pps) != 2 || !pps[1].revisit {
		t.Errorf("past the horizon, delivered: %d plans of the first pack, want 2, the second a revisit", len(pps))
	}
	for _, tc := range []struct {
		name     string
		horizon  uint64
		min, max int
	}{
		{"within the horizon", packHorizon, 1, 1},
		{"past the horizon", 0, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
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

// TestRestoreLateTargets: with every pack sent as soon as the walk leaves
// it, files that repeat earlier content join blob plans not delivered yet,
// or get plans of their own once they were. The test runs both ways: the
// walk goes on at once, or waits after each send until the plan's blobs
// are delivered. Every file comes back exactly (run with -race).
func TestRestoreLateTargets(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "src")
	rng := rand.New(rand.NewPCG(8, 8))
	var contents [][]byte
	for i := range 60 {
		var data []byte
		if i > 2*packIdle && rng.IntN(2) == 0 {
			data = contents[rng.IntN(len(contents))] // deduplicated against an earlier file
		} else {
			data = randomBytes(rng, 64<<10+rng.IntN(400<<10))
		}
		contents = append(contents, data)
		writeFile(t, filepath.Join(root, fmt.Sprintf("f%02d", i)), data, 0o644)
	}
	store := newCountingStore(newMemStore())
	testRepo(t, store, smallChunks(), 256<<10)
	snap := backup(t, store, root)
	r := openRepo(t, store)
	for _, wait := range []bool{false, true} {
		t.Run(fmt.Sprintf("wait=%v", wait), func(t *testing.T) {
			target := t.TempDir()
			var sent, late int
			store.reset()
			_, err := restore(context.Background(), r, snap, Options{Target: target, Connections: 4}, func(rs *restorer) {
				rs.horizon = 0
				rs.sent = func(pp *packPlan) {
					sent++
					if wait && !delivered(pp) {
						late++
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			compareTrees(t, root, target+root)
			reads := 0
			for _, n := range store.reset() {
				reads += n
			}
			t.Logf("%d plans sent while walking, %d reads", sent, reads)
			if sent == 0 {
				t.Fatal("nothing was sent while walking: the test does not test late targets")
			}
			if late > 0 {
				t.Fatalf("%d plans not delivered within 10 s", late)
			}
		})
	}
}

// delivered waits (up to 10 s) until every blob of pp is sealed; false if
// that did not happen.
func delivered(pp *packPlan) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		all := true
		for _, bp := range pp.blobs {
			bp.mu.Lock()
			all = all && bp.sealed
			bp.mu.Unlock()
		}
		if all {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// TestPlanJoinsSentPack: a blob of a pack whose plan was handed to the
// download joins that plan until its download starts, and gets a revisit
// plan of its own after that.
func TestPlanJoinsSentPack(t *testing.T) {
	packID := crypto.ID{1}
	entry := func(n byte) index.Entry {
		return index.Entry{ID: crypto.ID{n}, Type: pack.DataBlob, Pack: packID, Offset: uint32(n) * 100, Length: 100}
	}
	b := newBatch()
	first := b.plan(entry(1))
	sent := b.take(0, 0)
	if len(sent) != 1 || !sent[0].sent {
		t.Fatalf("take sent %d plans", len(sent))
	}
	if joined := b.plan(entry(2)); joined.pack != first.pack || len(first.pack.blobs) != 2 {
		t.Fatalf("a blob planned before the download started got its own plan (%d blobs in the first)", len(first.pack.blobs))
	}
	first.pack.start()
	late := b.plan(entry(3))
	if late.pack == first.pack || !late.pack.revisit || len(first.pack.blobs) != 2 {
		t.Fatalf("a blob planned after the download started joined it (revisit %v, %d blobs in the first)", late.pack.revisit, len(first.pack.blobs))
	}
}

// TestRestoreLateTargetsDamaged: a blob in a damaged pack fails every file
// that needs it, also the later files that joined its plan after it was
// sent (horizon 0), and none of them appears under its final name; the
// other files are restored exactly.
func TestRestoreLateTargetsDamaged(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "src")
	rng := rand.New(rand.NewPCG(10, 10))
	shared := randomBytes(rng, 200<<10)
	writeFile(t, filepath.Join(root, "a-shared"), shared, 0o644)
	for i := range 2 * packIdle {
		writeFile(t, filepath.Join(root, fmt.Sprintf("m%02d", i)), randomBytes(rng, 300<<10), 0o644)
	}
	writeFile(t, filepath.Join(root, "z-shared1"), shared, 0o644)
	writeFile(t, filepath.Join(root, "z-shared2"), shared, 0o644)
	faults := fault.New(newMemStore())
	testRepo(t, faults, smallChunks(), 256<<10)
	snap := backup(t, faults, root)
	r := openRepo(t, faults)
	node, err := snapshot.FindPath(context.Background(), r, snap.Tree, root+"/a-shared")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := r.Index().Lookup(node.Content[0])
	faults.Corrupt(repo.PackName(e.Pack), int64(e.Offset)+40)
	target := t.TempDir()
	_, err = restore(context.Background(), r, snap, Options{Target: target, Connections: 2, Warn: func(string, error) {}},
		func(rs *restorer) { rs.horizon = 0 })
	if err == nil {
		t.Fatal("restore with a damaged blob succeeded")
	}
	for _, name := range []string{"a-shared", "z-shared1", "z-shared2"} {
		path := target + root + "/" + name
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error does not name %s:\n%v", path, err)
		}
		if _, serr := os.Lstat(path); !errors.Is(serr, fs.ErrNotExist) {
			t.Errorf("%s exists after its blob failed (%v)", path, serr)
		}
	}
	for i := range 2 * packIdle {
		name := fmt.Sprintf("m%02d", i)
		if !bytes.Equal(readFile(t, filepath.Join(target+root, name)), readFile(t, filepath.Join(root, name))) {
			t.Errorf("%s restored wrong", name)
		}
	}
}
