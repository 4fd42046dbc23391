package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// BlobSaver stores a blob and returns its content ID. The repository
// satisfies it; saving a blob that already exists is not an error. The
// saver may keep data: TreeWriter never reuses a buffer it handed over.
type BlobSaver interface {
	SaveBlob(ctx context.Context, t pack.BlobType, data []byte) (crypto.ID, error)
}

// TreeWriter builds the tree blobs of one directory incrementally, so a
// directory with millions of entries is never held in memory as nodes:
// each node is encoded when added, and the run is saved after
// MaxTreeEntries nodes or before a node that would make it longer than
// MaxTreeBytes. A TreeWriter is not safe for concurrent use. After an error,
// every later call returns that error.
type TreeWriter struct {
	ctx     context.Context
	saver   BlobSaver
	run     []byte // encoded run so far, starting with the version byte
	count   int    // entries in run
	scratch []byte // field buffer reused by appendEntry
	last    []byte // name of the last node added, for the order check
	ids     []crypto.ID
	err     error
	closed  bool
}

// NewTreeWriter returns a writer that saves runs with s under ctx.
func NewTreeWriter(ctx context.Context, s BlobSaver) *TreeWriter {
	return &TreeWriter{ctx: ctx, saver: s, run: []byte{treeVersion}}
}

var errWriterClosed = errors.New("tree writer is closed")

// Add appends n to the directory. Nodes must come in strictly increasing
// Name byte order and be valid (Node.Validate). n is encoded at once, so
// the caller may reuse its buffers after Add returns.
func (w *TreeWriter) Add(n Node) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errWriterClosed
	}
	if err := n.Validate(); err != nil {
		return fmt.Errorf("add tree entry: %w", err)
	}
	if w.last != nil && bytes.Compare(w.last, n.Name) >= 0 {
		return fmt.Errorf("add tree entry %q: not after %q (entries must be added sorted by name bytes, without duplicates)", n.Name, w.last)
	}
	start := len(w.run)
	w.run, w.scratch = appendEntry(w.run, w.scratch, &n)
	if w.count > 0 && len(w.run) > MaxTreeBytes {
		// The entry does not fit: the run ends before it. A copy, since
		// the saver may keep the old run's buffer.
		entry := bytes.Clone(w.run[start:])
		w.run = w.run[:start]
		if err := w.flush(); err != nil {
			return err
		}
		w.run = append(w.run, entry...)
	}
	w.count++
	w.last = append(w.last[:0], n.Name...)
	if w.count == MaxTreeEntries {
		return w.flush()
	}
	return nil
}

// flush saves the current run and starts a new one.
func (w *TreeWriter) flush() error {
	id, err := w.saver.SaveBlob(w.ctx, pack.TreeBlob, w.run)
	if err != nil {
		w.err = fmt.Errorf("save tree blob %d of directory: %w", len(w.ids)+1, err)
		return w.err
	}
	w.ids = append(w.ids, id)
	// A fresh buffer: the saver may still hold the old one.
	w.run = make([]byte, 1, len(w.run))
	w.run[0] = treeVersion
	w.count = 0
	return nil
}

// Close saves the last run and returns the IDs of all runs in order. An
// empty directory gives one blob with no entries; a directory of exactly
// MaxTreeEntries entries gives one blob, not a trailing empty one.
func (w *TreeWriter) Close() ([]crypto.ID, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.closed {
		return nil, errWriterClosed
	}
	if w.count > 0 || len(w.ids) == 0 {
		if err := w.flush(); err != nil {
			return nil, err
		}
	}
	w.closed = true
	return w.ids, nil
}
