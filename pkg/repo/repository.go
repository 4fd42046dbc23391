package repo

import (
	"context"
	"errors"
	"time"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

var errTodo = errors.New("todo")

// Errors returned by Init, Open and the key operations. A wrong passphrase
// gives an error wrapping crypto.ErrWrongPassphrase.
var (
	// ErrNoRepository means there is no repository at the location: the
	// config object is missing, or the location itself does not exist.
	ErrNoRepository = errors.New("no cairn repository here (run cairn init first)")
	// ErrAlreadyInitialized means Init found an existing config object.
	ErrAlreadyInitialized = errors.New("a cairn repository already exists here")
	// ErrLastKey means RemoveKey was asked to remove the only key file.
	ErrLastKey = errors.New("refusing to remove the last key: the repository would become unreadable")
	// ErrCorrupt means a stored object failed its name check or its
	// authentication. Errors wrapping it name the object.
	ErrCorrupt = errors.New("the object was modified or damaged; run cairn check")
)

// Config is the repository configuration stored in the config object
// (FORMAT.md section 5).
type Config struct {
	Version          int            `json:"version"`
	ID               string         `json:"id"`
	Created          time.Time      `json:"created"`
	Chunker          chunker.Params `json:"chunker"`
	Compression      string         `json:"compression"`
	CompressionLevel int            `json:"compression_level"`
	PackSize         int            `json:"pack_size"`
}

// InitOptions configure a new repository. Zero values select the defaults.
type InitOptions struct {
	KDF              crypto.KDFParams
	Chunker          chunker.Params
	PackSize         int
	CompressionLevel int
	Host, Username   string
}

// OpenOptions configure an opened repository.
type OpenOptions struct {
	// CacheDir is the local cache directory; "" means no cache.
	CacheDir string
	// Connections bounds concurrent storage requests; default 8.
	Connections    int
	Host, Username string
}

// Repository is an opened, unlocked repository.
type Repository struct {
	store storage.Store
	cfg   Config
	keys  *crypto.Keys
}

// Init creates a repository in store.
func Init(ctx context.Context, store storage.Store, passphrase []byte, opts InitOptions) (*Repository, error) {
	return nil, errTodo
}

// Open unlocks the repository in store with passphrase.
func Open(ctx context.Context, store storage.Store, passphrase []byte, opts OpenOptions) (*Repository, error) {
	return nil, errTodo
}

// Close releases the local cache.
func (r *Repository) Close() error { return nil }

// Config returns the repository configuration.
func (r *Repository) Config() Config { return r.cfg }

// Keys returns the repository's subkeys.
func (r *Repository) Keys() *crypto.Keys { return r.keys }

// Store returns the underlying store.
func (r *Repository) Store() storage.Store { return r.store }
