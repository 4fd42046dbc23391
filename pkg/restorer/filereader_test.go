package restorer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// readerFixture backs up one multi-blob file and returns the repository,
// the file's node and its content.
func readerFixture(t *testing.T) (*forgedRepo, *snapshot.Node, []byte) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 8))
	data := randomBytes(rng, 2<<20+12345)
	path := filepath.Join(dir, "src", "file.bin")
	writeFile(t, path, data, 0o644)
	store := newMemStore()
	testRepo(t, store, smallChunks(), 256<<10)
	snap := backup(t, store, path)
	r := openRepo(t, store)
	node, err := snapshot.FindPath(context.Background(), r, snap.Tree, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(node.Content) < 8 {
		t.Fatalf("file has %d blobs, want many", len(node.Content))
	}
	return &forgedRepo{Repository: r, plain: func(e index.Entry) uint32 { return e.PlainLen }}, node, data
}

func TestFileReaderRandomReads(t *testing.T) {
	fr0, node, data := readerFixture(t)
	if e, _ := fr0.Index().Lookup(node.Content[0]); e.PlainLen == 0 {
		t.Fatal("the repository records no plaintext lengths; this test needs them")
	}
	for _, tc := range []struct {
		name string
		r    Repo
	}{{"recorded lengths", fr0}, {"no lengths (1.0)", withoutLengths(fr0.Repository)}} {
		t.Run(tc.name, func(t *testing.T) {
			fr := NewFileReader(tc.r, node)
			if fr.Size() != int64(len(data)) {
				t.Fatalf("Size %d, want %d", fr.Size(), len(data))
			}
			rng := rand.New(rand.NewPCG(1, 1))
			for range 200 {
				off := rng.Int64N(int64(len(data)) + 10)
				buf := make([]byte, rng.IntN(300<<10)+1)
				n, err := fr.ReadAt(buf, off)
				want := data[min(off, int64(len(data))):]
				if len(want) > len(buf) {
					want = want[:len(buf)]
				}
				if !bytes.Equal(buf[:n], want) {
					t.Fatalf("ReadAt(%d bytes at %d): %d bytes differ from the source", len(buf), off, n)
				}
				if n < len(buf) && err != io.EOF {
					t.Fatalf("short read at %d with error %v, want io.EOF", off, err)
				}
				if n == len(buf) && err != nil {
					t.Fatalf("full read at %d with error %v", off, err)
				}
			}
		})
	}
}

// With recorded lengths, a read loads only the blobs it covers.
func TestFileReaderLoadsOnlyCoveringBlobs(t *testing.T) {
	fr0, node, data := readerFixture(t)
	counting := &countingRepo{Repo: fr0}
	fr := NewFileReader(counting, node)
	off := int64(len(data)) - 10
	buf := make([]byte, 10)
	if _, err := fr.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, data[off:]) {
		t.Fatal("tail differs")
	}
	if counting.loads != 1 {
		t.Fatalf("reading the last 10 bytes loaded %d blobs, want 1", counting.loads)
	}
	if _, err := fr.ReadAt(buf, off); err != nil || counting.loads != 1 {
		t.Fatalf("reading it again: %v, %d loads; want the cached blob", err, counting.loads)
	}
}

// An index whose lengths are false (same sum, two lengths swapped) never
// makes the reader return wrong bytes: reading the whole file fails,
// naming the pack and blob.
func TestFileReaderForgedLengths(t *testing.T) {
	fr0, node, data := readerFixture(t)
	a, b := node.Content[1], node.Content[2]
	ea, _ := fr0.Repository.Index().Lookup(a)
	eb, _ := fr0.Repository.Index().Lookup(b)
	if ea.PlainLen == eb.PlainLen {
		t.Fatal("blobs 1 and 2 have equal lengths; pick others")
	}
	fr0.plain = func(e index.Entry) uint32 {
		switch e.ID {
		case a:
			return eb.PlainLen
		case b:
			return ea.PlainLen
		}
		return e.PlainLen
	}
	var out bytes.Buffer
	err := DumpRange(context.Background(), fr0, node, 0, -1, &out)
	if !errors.Is(err, errLengthMismatch) {
		t.Fatalf("DumpRange with swapped lengths: %v, want a length mismatch", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte(ea.Pack.Short())) && !bytes.Contains([]byte(err.Error()), []byte(eb.Pack.Short())) {
		t.Errorf("error %q names no pack", err)
	}
	if !bytes.HasPrefix(data, out.Bytes()) {
		t.Fatal("bytes written before the error differ from the source")
	}
	// Lengths that do not add up are not used at all: reads are right.
	fr0.plain = func(e index.Entry) uint32 { return e.PlainLen + 1 }
	out.Reset()
	if err := DumpRange(context.Background(), fr0, node, 1000, 1<<20, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data[1000:1000+1<<20]) {
		t.Fatal("DumpRange with lengths that do not add up returned wrong bytes")
	}
}

func TestDumpRange(t *testing.T) {
	fr0, node, data := readerFixture(t)
	for _, c := range []struct{ off, n int64 }{{0, -1}, {0, 1}, {5, 0}, {int64(len(data)) - 3, 100}, {300000, 1234567}, {int64(len(data)) + 5, 10}} {
		var out bytes.Buffer
		if err := DumpRange(context.Background(), fr0, node, c.off, c.n, &out); err != nil {
			t.Fatalf("DumpRange(%d, %d): %v", c.off, c.n, err)
		}
		want := data[min(c.off, int64(len(data))):]
		if c.n >= 0 && int64(len(want)) > c.n {
			want = want[:c.n]
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("DumpRange(%d, %d): %d bytes, want %d equal to the source", c.off, c.n, out.Len(), len(want))
		}
	}
}

type countingRepo struct {
	Repo
	loads int
}

func (c *countingRepo) LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error) {
	c.loads++
	return c.Repo.LoadBlob(ctx, t, id)
}
