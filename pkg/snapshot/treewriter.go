package snapshot

import (
	"context"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// BlobSaver stores a blob and returns its content ID. The repository
// satisfies it; saving a blob that already exists is not an error.
type BlobSaver interface {
	SaveBlob(ctx context.Context, t pack.BlobType, data []byte) (crypto.ID, error)
}

// TreeWriter builds the tree blobs of one directory incrementally, so a
// directory with millions of entries never has to be held in memory.
// Nodes are added in sorted order; every MaxTreeEntries nodes it encodes a
// run and saves it. A TreeWriter is not safe for concurrent use.
type TreeWriter struct {
	ctx   context.Context
	saver BlobSaver
}

// NewTreeWriter returns a writer that saves runs with s under ctx.
func NewTreeWriter(ctx context.Context, s BlobSaver) *TreeWriter {
	return &TreeWriter{ctx: ctx, saver: s}
}

// Add appends n to the directory. Nodes must come in strictly increasing
// Name byte order and be valid (Node.Validate). n is encoded at once, so
// the caller may reuse its buffers after Add returns.
func (w *TreeWriter) Add(n Node) error {
	panic("unimplemented")
}

// Close saves the last run and returns the IDs of all runs in order. An
// empty directory gives one blob with no entries.
func (w *TreeWriter) Close() ([]crypto.ID, error) {
	panic("unimplemented")
}
