package fusefs

// This reader should be replaced by the restorer's FileReader
// (restorer.NewFileReader(r, node), pkg/restorer/filereader.go) once that
// is merged: it does the same job, and one path for one job is the rule.
// It lives here only because that reader was not on main when mount was
// written.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// errInconsistent means a file's blobs do not add up to what the snapshot
// or the index recorded for it: the repository was damaged or forged. A
// read that meets it fails with EIO.
var errInconsistent = errors.New("file content is inconsistent with its recorded lengths")

// plainLens returns the plaintext length an index records for a data
// blob, 0 when it records none.
type plainLens func(id crypto.ID) uint32

// fileReader reads a file of a snapshot at any offset. With format 1.1
// every blob's plaintext length is in the index, so the offset of each
// blob in the file is a prefix sum and a read loads only the blobs it
// covers. Those lengths are claims of whoever wrote the index: they are
// used only when they add up to the file's size in the tree, and every
// blob loaded must have the length claimed, else the read fails. Blobs
// without a recorded length (format 1.0 repositories, blobs of 16 MiB or
// more) are loaded in order until the offset is reached, and the lengths
// learned are remembered for the life of the reader.
type fileReader struct {
	path    string
	size    int64
	content []crypto.ID
	blobs   *blobCache

	mu sync.Mutex
	// lens[i] is blob i's length, -1 while unknown.
	lens []int64
	// ends[i] is the end offset of blob i; set once every length is
	// known.
	ends []int64
	// claimed[i] reports whether lens[i] came from the index (and so must
	// be checked against the blob).
	claimed []bool
	// background is the mount's context, for prefetches; nil disables
	// them.
	background context.Context
	// next is where the last read ended: a read starting there is
	// sequential, and the blobs after it are prefetched.
	next int64
	// bad is set once the blobs proved inconsistent with the file's
	// size; every later read fails with it.
	bad error
}

func newFileReader(path string, n *snapshot.Node, blobs *blobCache, lengths plainLens) *fileReader {
	f := &fileReader{
		path:    path,
		size:    int64(n.Size),
		content: n.Content,
		blobs:   blobs,
		lens:    make([]int64, len(n.Content)),
		claimed: make([]bool, len(n.Content)),
	}
	var sum int64
	all := true
	for i, id := range n.Content {
		l := int64(lengths(id))
		if l == 0 {
			l, all = -1, false
		} else {
			sum += l
			f.claimed[i] = true
		}
		f.lens[i] = l
	}
	if (all && sum != f.size) || sum > f.size {
		// The claims cannot all be true: learn the lengths instead.
		for i := range f.lens {
			f.lens[i], f.claimed[i] = -1, false
		}
		all = len(f.lens) == 0
	}
	if all {
		f.buildEnds()
	}
	return f
}

// buildEnds fills ends from lens; f.mu is held or f is not shared yet.
func (f *fileReader) buildEnds() {
	f.ends = make([]int64, len(f.lens))
	var off int64
	for i, l := range f.lens {
		off += l
		f.ends[i] = off
	}
}

// ReadAt fills p from offset off. It returns io.EOF at the end of the
// file, like io.ReaderAt.
func (f *fileReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: negative offset %d", f.path, off)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := p
	if rest := f.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	f.mu.Lock()
	sequential := off == f.next
	f.mu.Unlock()
	done, last := 0, -1
	var lastEnd int64
	for done < len(want) {
		i, start, err := f.locate(ctx, off+int64(done))
		if err != nil {
			return done, err
		}
		if sequential && i != last {
			f.prefetch(i)
		}
		data, err := f.blob(ctx, i)
		if err != nil {
			return done, err
		}
		done += copy(want[done:], data[off+int64(done)-start:])
		last, lastEnd = i, start+int64(len(data))
	}
	// A read that reaches the recorded size must find the file's content
	// ending there: its last blob, ending at that byte. (With lengths that
	// add up to the size this always holds; learned ones are checked.)
	if off+int64(done) == f.size && (last != len(f.content)-1 || lastEnd != f.size) {
		return done, fmt.Errorf("%s: %w: its content goes on past the %d bytes the snapshot records", f.path, errInconsistent, f.size)
	}
	f.mu.Lock()
	f.next = off + int64(done)
	f.mu.Unlock()
	if len(want) < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// readAhead is how many blobs after the one being read a sequential read
// loads in the background (4 MiB with the default chunker).
const readAhead = 4

// prefetch starts loading the readAhead blobs after blob i.
func (f *fileReader) prefetch(i int) {
	if f.background == nil {
		return
	}
	for j := i + 1; j <= i+readAhead && j < len(f.content); j++ {
		f.blobs.prefetch(f.background, f.content[j])
	}
}

// locate returns the blob holding byte pos and its offset in the file,
// loading blobs of unknown length in order until it gets there.
func (f *fileReader) locate(ctx context.Context, pos int64) (int, int64, error) {
	f.mu.Lock()
	ends, bad := f.ends, f.bad
	f.mu.Unlock()
	if bad != nil {
		return 0, 0, bad
	}
	if ends != nil {
		i := sort.Search(len(ends), func(i int) bool { return ends[i] > pos })
		if i == len(ends) {
			return 0, 0, fmt.Errorf("%s: %w: its blobs end at %d bytes, the snapshot says %d", f.path, errInconsistent, ends[len(ends)-1], f.size)
		}
		var start int64
		if i > 0 {
			start = ends[i-1]
		}
		return i, start, nil
	}
	var start int64
	for i := range f.content {
		f.mu.Lock()
		l := f.lens[i]
		f.mu.Unlock()
		if l < 0 {
			data, err := f.blob(ctx, i)
			if err != nil {
				return 0, 0, err
			}
			l = int64(len(data))
		}
		if pos < start+l {
			return i, start, nil
		}
		start += l
	}
	return 0, 0, fmt.Errorf("%s: %w: its %d blobs hold %d bytes, the snapshot says %d", f.path, errInconsistent, len(f.content), start, f.size)
}

// blob loads blob i and checks its length against the one recorded or
// learned before; a first load of a blob of unknown length records it.
func (f *fileReader) blob(ctx context.Context, i int) ([]byte, error) {
	id := f.content[i]
	data, err := f.blobs.get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s: blob %d of %d (%s): %w", f.path, i+1, len(f.content), id.Short(), err)
	}
	got := int64(len(data))
	f.mu.Lock()
	defer f.mu.Unlock()
	switch l := f.lens[i]; {
	case l < 0:
		f.lens[i] = got
		f.learned()
		if f.ends == nil && f.allKnown() {
			f.bad = fmt.Errorf("%s: %w: its blobs hold %d bytes, the snapshot says %d", f.path, errInconsistent, f.sum(), f.size)
			return nil, f.bad
		}
	case l != got:
		what := "was read before as"
		if f.claimed[i] {
			what = "is recorded in the index as"
		}
		return nil, fmt.Errorf("%s: blob %d of %d (%s) has %d bytes but %s %d: %w", f.path, i+1, len(f.content), id.Short(), got, what, l, errInconsistent)
	}
	return data, nil
}

// learned builds ends once every length is known and they add up to the
// file's size; f.mu is held.
func (f *fileReader) learned() {
	if f.allKnown() && f.sum() == f.size {
		f.buildEnds()
	}
}

func (f *fileReader) allKnown() bool {
	for _, l := range f.lens {
		if l < 0 {
			return false
		}
	}
	return true
}

func (f *fileReader) sum() int64 {
	var s int64
	for _, l := range f.lens {
		if l > 0 {
			s += l
		}
	}
	return s
}
