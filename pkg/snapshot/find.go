package snapshot

import (
	"context"
	"errors"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// ObjectKind is the repository object kind of snapshots.
const ObjectKind = "snapshot"

// ObjectStore loads and saves repository objects of a kind. The repository
// satisfies it.
type ObjectStore interface {
	ListObjects(ctx context.Context, kind string) ([]crypto.ID, error)
	LoadObject(ctx context.Context, kind string, id crypto.ID) ([]byte, error)
	SaveObject(ctx context.Context, kind string, body []byte) (crypto.ID, error)
}

// Entry is a loaded snapshot with its ID.
type Entry struct {
	ID       crypto.ID
	Snapshot *Snapshot
}

var (
	// ErrSnapshotNotFound means no snapshot matches a reference.
	ErrSnapshotNotFound = errors.New("snapshot not found")
	// ErrAmbiguous means an ID prefix matches more than one snapshot.
	ErrAmbiguous = errors.New("ambiguous snapshot ID prefix")
)

// Save stores s and returns its ID.
func Save(ctx context.Context, o ObjectStore, s *Snapshot) (crypto.ID, error) {
	panic("unimplemented")
}

// List loads all snapshots, sorted by time (oldest first).
func List(ctx context.Context, o ObjectStore) ([]Entry, error) {
	panic("unimplemented")
}

// Filter selects snapshots. Empty fields match everything.
type Filter struct {
	Hosts []string // snapshot's host is one of these
	Tags  []string // snapshot has every one of these tags
	Paths []string // snapshot's path set equals this set
}

// Match reports whether s passes the filter.
func (f Filter) Match(s *Snapshot) bool {
	panic("unimplemented")
}

// Find resolves ref: a full hex ID, a unique hex prefix, or "latest" (the
// newest snapshot matching f).
func Find(ctx context.Context, o ObjectStore, ref string, f Filter) (Entry, error) {
	panic("unimplemented")
}

// FindParent returns the newest snapshot of host with the same path set, or
// nil when there is none.
func FindParent(ctx context.Context, o ObjectStore, host string, paths []string) (*Entry, error) {
	panic("unimplemented")
}
