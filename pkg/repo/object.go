package repo

import (
	"context"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// Object kinds stored as envelopes.
const (
	KindSnapshot = "snapshot"
	KindIndex    = "index"
	KindLease    = "lease"
	KindDeletion = "deletion"
)

// ObjectName returns the object name of an envelope of kind.
func ObjectName(kind string, id crypto.ID) string { return "" }

// PackName returns the object name of a pack.
func PackName(id crypto.ID) string { return "" }

// SaveObject stores body as an envelope of kind.
func (r *Repository) SaveObject(ctx context.Context, kind string, body []byte) (crypto.ID, error) {
	return crypto.ID{}, errTodo
}

// LoadObject loads an envelope of kind.
func (r *Repository) LoadObject(ctx context.Context, kind string, id crypto.ID) ([]byte, error) {
	return nil, errTodo
}

// ListObjects lists the objects of kind.
func (r *Repository) ListObjects(ctx context.Context, kind string) ([]crypto.ID, error) {
	return nil, errTodo
}

// DeleteObject deletes an object of kind.
func (r *Repository) DeleteObject(ctx context.Context, kind string, id crypto.ID) error {
	return errTodo
}

// FindObject resolves a unique hex prefix of an object ID of kind.
func (r *Repository) FindObject(ctx context.Context, kind, prefix string) (crypto.ID, error) {
	return crypto.ID{}, errTodo
}

// CatJSON renders config, index, snapshot, key, lease or deletion objects as JSON.
func (r *Repository) CatJSON(ctx context.Context, what string, id string) ([]byte, error) {
	return nil, errTodo
}
