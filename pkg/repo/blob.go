package repo

import (
	"context"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// LoadIndex loads the index.
func (r *Repository) LoadIndex(ctx context.Context) error { return errTodo }

// LoadBlob loads a blob.
func (r *Repository) LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error) {
	return nil, errTodo
}

// OpenBlob opens a sealed blob.
func (r *Repository) OpenBlob(t pack.BlobType, id crypto.ID, sealed []byte) ([]byte, error) {
	return nil, errTodo
}

// ReadPackHeader reads a pack's header.
func (r *Repository) ReadPackHeader(ctx context.Context, packID crypto.ID) ([]pack.Entry, int64, error) {
	return nil, 0, errTodo
}
