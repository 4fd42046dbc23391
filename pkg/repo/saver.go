package repo

import (
	"context"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// SaverOptions configure a Saver.
type SaverOptions struct {
	Connections int
	IndexEvery  int
}

// SaveStats count a Saver's work.
type SaveStats struct {
	Blobs, BlobsNew              int
	BytesNew, BytesStored, Packs int64
}

// Saver stores blobs.
type Saver struct{}

// NewSaver returns a Saver.
func (r *Repository) NewSaver(ctx context.Context, opts SaverOptions) *Saver { return &Saver{} }

// SaveBlob stores data.
func (s *Saver) SaveBlob(ctx context.Context, t pack.BlobType, data []byte) (crypto.ID, error) {
	return crypto.ID{}, errTodo
}

// SaveBlobID stores data under id.
func (s *Saver) SaveBlobID(ctx context.Context, t pack.BlobType, id crypto.ID, data []byte) (bool, error) {
	return false, errTodo
}

// Stats returns the counts so far.
func (s *Saver) Stats() SaveStats { return SaveStats{} }

// Flush uploads everything and writes the index.
func (s *Saver) Flush(ctx context.Context) (SaveStats, error) { return SaveStats{}, errTodo }
