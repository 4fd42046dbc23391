package repo

import (
	"context"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// KeyInfo describes one key file.
type KeyInfo struct {
	ID             crypto.ID
	Created        time.Time
	Host, Username string
	Current        bool
}

// ListKeys lists the key files.
func (r *Repository) ListKeys(ctx context.Context) ([]KeyInfo, error) { return nil, errTodo }

// AddKey adds a key file for passphrase.
func (r *Repository) AddKey(ctx context.Context, passphrase []byte, kdf crypto.KDFParams) (crypto.ID, error) {
	return crypto.ID{}, errTodo
}

// RemoveKey removes a key file.
func (r *Repository) RemoveKey(ctx context.Context, id crypto.ID) error { return errTodo }

// ChangePassphrase adds a key for passphrase and removes the current one.
func (r *Repository) ChangePassphrase(ctx context.Context, passphrase []byte, kdf crypto.KDFParams) (crypto.ID, error) {
	return crypto.ID{}, errTodo
}

// LoadKeyFile loads a key file.
func (r *Repository) LoadKeyFile(ctx context.Context, id crypto.ID) (*crypto.KeyFile, error) {
	return nil, errTodo
}
