package restorer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// fileReaderCache is how many decrypted blobs a FileReader keeps (at most
// 8 MiB each with the default chunker): enough for sequential reads that
// cross a blob boundary and for a few interleaved readers.
const fileReaderCache = 4

// FileReader reads the content of one file node at any offset, loading
// only the blobs that cover the bytes asked for. It is safe for concurrent
// use (io.ReaderAt's contract) and keeps a few decrypted blobs.
//
// Where each blob starts comes from the plaintext lengths the index
// records (format 1.1) when every blob of the file has one and they add up
// to the node's size; each loaded blob is then checked against its
// recorded length. Without usable lengths (1.0 repositories, blobs of 16
// MiB or more, or lengths that do not add up) the reader learns the
// offsets by loading the blobs in order from the start, once: later reads
// at known offsets cost only their own blobs.
//
// A length check proves a blob's own length, not the lengths of the blobs
// before it that were not read: an index forged to swap the lengths of
// two such blobs (keeping the sum) goes unnoticed until one of them is
// read, which then fails. Reading the whole file (Dump, restore) checks
// every blob and so every offset.
type FileReader struct {
	r    Repo
	node *snapshot.Node

	mu sync.Mutex
	// starts[i] is where blob i begins, valid for i <= known; starts[n]
	// is the end of the content.
	starts []int64
	known  int
	// recorded tells whether starts came from the index (then every
	// loaded blob must have exactly its recorded length).
	recorded bool
	cache    []cachedBlob // most recently used last
}

type cachedBlob struct {
	id   crypto.ID
	data []byte
}

var _ io.ReaderAt = (*FileReader)(nil)

// NewFileReader returns a reader over the content of node, which should be
// a regular file (ReadAt fails otherwise). It does no I/O.
func NewFileReader(r Repo, node *snapshot.Node) *FileReader {
	n := len(node.Content)
	fr := &FileReader{r: r, node: node, starts: make([]int64, n+1)}
	if starts, ok := recordedStarts(r.Index(), node); ok {
		fr.starts, fr.known, fr.recorded = starts, n, true
	}
	return fr
}

// recordedStarts computes the blob offsets of node from the index's
// plaintext lengths, when every blob has one and they sum to node.Size.
func recordedStarts(idx repo.IndexReader, node *snapshot.Node) ([]int64, bool) {
	starts := make([]int64, len(node.Content)+1)
	for i, id := range node.Content {
		n := recordedLen(idx, id)
		if n == 0 {
			return nil, false
		}
		starts[i+1] = starts[i] + int64(n)
	}
	if starts[len(node.Content)] != int64(node.Size) {
		return nil, false
	}
	return starts, true
}

// recordedLen is the plaintext length the index records for data blob id,
// 0 when it records none or its copies disagree (one of them is false).
func recordedLen(idx repo.IndexReader, id crypto.ID) uint32 {
	var n uint32
	for _, e := range idx.LookupAll(id) {
		if e.Type != pack.DataBlob || e.PlainLen == 0 || (n != 0 && e.PlainLen != n) {
			return 0
		}
		n = e.PlainLen
	}
	return n
}

// Size is the file's size as the snapshot records it.
func (fr *FileReader) Size() int64 { return int64(fr.node.Size) }

// ReadAt reads len(p) bytes at off (io.ReaderAt). It cannot be cancelled;
// use ReadAtContext where a context is at hand.
func (fr *FileReader) ReadAt(p []byte, off int64) (int, error) {
	return fr.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt with a context for the loads. Like ReadAt it
// returns io.EOF when fewer than len(p) bytes remain at off. An error
// other than io.EOF names the blob (and, for a length that contradicts
// the index, its pack): the repository is damaged or the storage failed.
func (fr *FileReader) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if fr.node.Type != snapshot.NodeFile {
		return 0, fmt.Errorf("read %s: it is a %s, not a file", fr.node.Name, fr.node.Type)
	}
	if off < 0 {
		return 0, errors.New("read: negative offset")
	}
	size := int64(fr.node.Size)
	if off >= size {
		return 0, io.EOF
	}
	want := p
	if int64(len(want)) > size-off {
		want = want[:size-off]
	}
	n := 0
	for n < len(want) {
		pos := off + int64(n)
		start, data, err := fr.blobAt(ctx, pos)
		if err != nil {
			return n, err
		}
		n += copy(want[n:], data[pos-start:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// blobAt returns the blob holding byte pos and where it starts.
func (fr *FileReader) blobAt(ctx context.Context, pos int64) (int64, []byte, error) {
	for {
		fr.mu.Lock()
		known := fr.known
		if pos < fr.starts[known] {
			// starts[:known+1] is ascending; find the last start <= pos.
			i := sort.Search(known, func(j int) bool { return fr.starts[j+1] > pos })
			start, end := fr.starts[i], fr.starts[i+1]
			fr.mu.Unlock()
			data, err := fr.load(ctx, i, end-start)
			return start, data, err
		}
		fr.mu.Unlock()
		// Lengths unknown this far: learn the next blob's.
		if known == len(fr.node.Content) {
			return 0, nil, fmt.Errorf("read %s: content is %d bytes, the snapshot says %d: the snapshot is inconsistent",
				fr.node.Name, fr.starts[known], fr.node.Size)
		}
		data, err := fr.load(ctx, known, -1)
		if err != nil {
			return 0, nil, err
		}
		fr.mu.Lock()
		if fr.known == known {
			fr.starts[known+1] = fr.starts[known] + int64(len(data))
			fr.known++
			if fr.known == len(fr.node.Content) && fr.starts[fr.known] != int64(fr.node.Size) {
				fr.mu.Unlock()
				return 0, nil, fmt.Errorf("read %s: content is %d bytes, the snapshot says %d: the snapshot is inconsistent",
					fr.node.Name, fr.starts[fr.known], fr.node.Size)
			}
		}
		fr.mu.Unlock()
	}
}

// load returns blob i, from the cache or the repository, and checks its
// length when it is known (want >= 0).
func (fr *FileReader) load(ctx context.Context, i int, want int64) ([]byte, error) {
	id := fr.node.Content[i]
	fr.mu.Lock()
	for k, c := range fr.cache {
		if c.id == id {
			fr.cache = append(append(fr.cache[:k:k], fr.cache[k+1:]...), c)
			fr.mu.Unlock()
			return c.data, nil
		}
	}
	fr.mu.Unlock()
	data, err := fr.r.LoadBlob(ctx, pack.DataBlob, id)
	if err != nil {
		return nil, fmt.Errorf("read %s: blob %d of %d: %w", fr.node.Name, i+1, len(fr.node.Content), err)
	}
	if want >= 0 && int64(len(data)) != want {
		var packID crypto.ID
		if e, ok := fr.r.Index().Lookup(id); ok {
			packID = e.Pack
		}
		return nil, fmt.Errorf("read %s: %w", fr.node.Name, lengthMismatch(packID, id, want, len(data)))
	}
	fr.mu.Lock()
	if len(fr.cache) >= fileReaderCache {
		fr.cache = append(fr.cache[:0], fr.cache[1:]...)
	}
	fr.cache = append(fr.cache, cachedBlob{id: id, data: data})
	fr.mu.Unlock()
	return data, nil
}

// errLengthMismatch marks a decrypted blob whose length is not the one the
// index records: the blob is authentic (its ID checked), so the index
// entry is false.
var errLengthMismatch = fmt.Errorf("plaintext length differs from the index: %w", repo.ErrCorrupt)

// lengthMismatch describes a blob whose plaintext length contradicts its
// index entry, naming the pack and the blob.
func lengthMismatch(packID, id crypto.ID, want int64, got int) error {
	return fmt.Errorf("%s: data blob %s: %w (it says %d bytes, the blob has %d): the index is damaged; run cairn check, and cairn repair index to rebuild it from the packs",
		repo.PackName(packID), id.Short(), errLengthMismatch, want, got)
}
