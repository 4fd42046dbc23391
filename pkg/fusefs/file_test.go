package fusefs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/restorer"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// fileOf backs up one random file of size bytes and returns its node,
// content and the repository.
func fileOf(t *testing.T, size int) (*repo.Repository, *snapshot.Node, []byte) {
	t.Helper()
	r, _ := testRepo(t)
	src := t.TempDir()
	data := randomFile(t, filepath.Join(src, "f"), 1, size)
	snap := backupDir(t, r, src)
	n, err := snapshot.FindPath(context.Background(), r, snap.Tree, src+"/f")
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Content) < 20 {
		t.Fatalf("file has %d blobs; the test needs many", len(n.Content))
	}
	return r, n, data
}

// readRandom reads f at random offsets and sizes and compares with want.
func readRandom(t *testing.T, f *fileReader, want []byte, reads int) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	for range reads {
		off := rng.IntN(len(want) + 10)
		buf := make([]byte, 1+rng.IntN(300<<10))
		n, err := f.ReadAt(ctx, buf, int64(off))
		end := min(off+len(buf), len(want))
		switch {
		case off >= len(want):
			if n != 0 || err != io.EOF {
				t.Fatalf("read at %d past the end (%d): %d, %v", off, len(want), n, err)
			}
			continue
		case end < off+len(buf) && err != io.EOF:
			t.Fatalf("read at %d of %d bytes to the end: %v, want io.EOF", off, len(buf), err)
		case end == off+len(buf) && err != nil:
			t.Fatalf("read at %d of %d bytes: %v", off, len(buf), err)
		}
		if n != end-off || !bytes.Equal(buf[:n], want[off:end]) {
			t.Fatalf("read at %d of %d bytes: got %d bytes that differ from the source", off, len(buf), n)
		}
	}
}

// TestMountReaderRandomOffsets reads a format 1.1 file at random offsets,
// and checks that a read in the middle loads only the blobs it covers.
func TestMountReaderRandomOffsets(t *testing.T) {
	r, n, data := fileOf(t, 5<<20)
	loader := &countingLoader{blobLoader: r}
	f := newFileReader("/f", n, newBlobCache(loader, BlobCacheSize), indexLens(r))
	if f.ends == nil {
		t.Fatal("format 1.1 lengths were not used: the reader would read from the start")
	}
	buf := make([]byte, 4096)
	mid := int64(len(data) * 3 / 4)
	if _, err := f.ReadAt(context.Background(), buf, mid); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, data[mid:mid+4096]) {
		t.Fatal("read in the middle differs from the source")
	}
	if got := loader.loads.Load(); got > 2 {
		t.Fatalf("a 4 KiB read at 3/4 of the file loaded %d blobs; want at most 2", got)
	}
	readRandom(t, f, data, 300)
}

// TestMountReaderSmallCache reads with caches smaller than the file (and
// than one blob): reads load blobs again, still get the right bytes, and
// the cache never holds more than its bound.
func TestMountReaderSmallCache(t *testing.T) {
	r, n, data := fileOf(t, 2<<20)
	for _, budget := range []int64{1, 300 << 10} {
		blobs := newBlobCache(r, budget)
		f := newFileReader("/f", n, blobs, indexLens(r))
		readRandom(t, f, data, 50)
		if got := blobs.cache.Size(); got > budget || (budget > 1 && got == 0) {
			t.Errorf("cache of %d bytes holds %d", budget, got)
		}
	}
}

// TestMountReaderForgedLengths: an index whose lengths lie. Lengths that
// add up to the file's size but are wrong for a blob make reads of it
// fail (never wrong bytes); lengths that do not add up are not used at all.
func TestMountReaderForgedLengths(t *testing.T) {
	r, n, data := fileOf(t, 3<<20)
	honest := indexLens(r)
	ctx := context.Background()

	// Blob 3 claims 100 bytes more, blob 4 100 fewer: same sum.
	swapped := func(id crypto.ID) uint32 {
		l := honest(id)
		switch id {
		case n.Content[3]:
			return l + 100
		case n.Content[4]:
			return l - 100
		}
		return l
	}
	f := newFileReader("/f", n, newBlobCache(r, BlobCacheSize), swapped)
	if f.ends == nil {
		t.Fatal("lengths that add up were not used")
	}
	start := f.ends[2]
	buf := make([]byte, 10)
	_, err := f.ReadAt(ctx, buf, start+5)
	if !errors.Is(err, errInconsistent) || !strings.Contains(err.Error(), n.Content[3].Short()) {
		t.Fatalf("read of the blob with a forged length: %v, want errInconsistent naming blob %s", err, n.Content[3].Short())
	}
	// Blobs before the forged ones still read correctly.
	if _, err := f.ReadAt(ctx, buf, 10); err != nil || !bytes.Equal(buf, data[10:20]) {
		t.Fatalf("read before the forged blobs: %v", err)
	}

	// Lengths that do not add up: learned from the blobs instead.
	inflated := func(id crypto.ID) uint32 { return honest(id) + 1 }
	f = newFileReader("/f", n, newBlobCache(r, BlobCacheSize), inflated)
	if f.ends != nil {
		t.Fatal("lengths that do not add up to the file size were used")
	}
	readRandom(t, f, data, 100)
}

// TestMountReaderForgedSize: a tree whose size claims more (or less) than
// the blobs hold. Reading where the claim and the blobs disagree fails.
func TestMountReaderForgedSize(t *testing.T) {
	r, n, data := fileOf(t, 2<<20)
	ctx := context.Background()
	for _, delta := range []int64{+4096, -4096} {
		forged := *n
		forged.Size = uint64(int64(len(data)) + delta)
		// Known lengths now disagree with the size: learned instead.
		f := newFileReader("/f", &forged, newBlobCache(r, BlobCacheSize), indexLens(r))
		buf := make([]byte, 8192)
		_, err := f.ReadAt(ctx, buf, int64(forged.Size)-8192)
		if !errors.Is(err, errInconsistent) {
			t.Fatalf("size %+d: read at the end: %v, want errInconsistent", delta, err)
		}
		// Without lengths at all.
		f = newFileReader("/f", &forged, newBlobCache(r, BlobCacheSize), func(crypto.ID) uint32 { return 0 })
		if _, err = f.ReadAt(ctx, buf, int64(forged.Size)-8192); !errors.Is(err, errInconsistent) {
			t.Fatalf("size %+d, no lengths: read at the end: %v, want errInconsistent", delta, err)
		}
	}
}

// TestMountReaderFixtureV10 reads every file of a format 1.0 repository
// (no plaintext lengths) at random offsets and compares with what Dump
// writes.
func TestMountReaderFixtureV10(t *testing.T) {
	ctx := context.Background()
	r := repotest.OpenFixtureV10(t, "../restorer/testdata/fixture-v1.0/repo")
	list, err := snapshot.List(ctx, r)
	if err != nil || len(list) == 0 {
		t.Fatalf("snapshots: %d, %v", len(list), err)
	}
	blobs := newBlobCache(r, BlobCacheSize)
	files, multi := 0, 0
	for _, e := range list {
		err := snapshot.Walk(ctx, r, e.Snapshot.Tree, func(p []byte, n *snapshot.Node) error {
			if n.Type != snapshot.NodeFile || n.Size == 0 {
				return nil
			}
			var want bytes.Buffer
			if err := restorer.Dump(ctx, r, e.Snapshot, string(p), &want); err != nil {
				return err
			}
			f := newFileReader(string(p), n, blobs, indexLens(r))
			if f.ends != nil {
				t.Fatalf("%s: the reader claims to know lengths a 1.0 index lacks", p)
			}
			// Read back to front, so each read is ahead of what was
			// learned.
			got := make([]byte, n.Size)
			step := max(int(n.Size)/7, 1)
			offs := []int{}
			for off := 0; off < int(n.Size); off += step {
				offs = append(offs, off)
			}
			slices.Reverse(offs)
			for _, off := range offs {
				end := min(off+step, int(n.Size))
				if k, err := f.ReadAt(ctx, got[off:end], int64(off)); err != nil && err != io.EOF || k != end-off {
					t.Fatalf("%s: read at %d: %d bytes, %v", p, off, k, err)
				}
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("%s: content read at offsets differs from dump", p)
			}
			files++
			if len(n.Content) > 1 {
				multi++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files == 0 || multi == 0 {
		t.Fatalf("read %d files, %d of several blobs: the fixture should have both", files, multi)
	}
}

// TestMountReaderPrefetch: a sequential read starts loading the next
// blobs, so a reader of a remote repository does not wait one round trip
// per blob.
func TestMountReaderPrefetch(t *testing.T) {
	r, n, data := fileOf(t, 2<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	blobs := newBlobCache(r, BlobCacheSize)
	f := newFileReader("/f", n, blobs, indexLens(r))
	f.background = ctx
	buf := make([]byte, 4096)
	if _, err := f.ReadAt(ctx, buf, 0); err != nil || !bytes.Equal(buf, data[:4096]) {
		t.Fatalf("first read: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for j := 1; j <= readAhead; j++ {
		for {
			if _, ok := blobs.cache.Get(n.Content[j]); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("blob %d was not prefetched after a sequential read", j)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, ok := blobs.cache.Get(n.Content[readAhead+1]); ok {
		t.Errorf("blob %d was loaded: more than readAhead (%d) blobs ahead", readAhead+1, readAhead)
	}
}
