package storage

import (
	"context"
	"io"
	"time"
)

// VersionInfo describes one version of an object, or one delete marker, in
// a store that keeps the old versions of replaced and deleted objects (an
// S3 bucket with versioning on).
type VersionInfo struct {
	Name      string
	VersionID string // opaque; "null" for objects stored before versioning was on
	Size      int64  // 0 for a delete marker
	ModTime   time.Time
	// IsLatest marks the current version: what Get returns, or, for a
	// delete marker, what makes Get report ErrNotFound.
	IsLatest bool
	// DeleteMarker marks a deletion: the object is hidden, its older
	// versions are still stored.
	DeleteMarker bool
}

// Versioner is implemented by stores that can keep and address the
// versions of an object. A bucket with versioning on is what makes
// append-only credentials really append-only: a client that overwrites or
// deletes an object only adds a version, and the owner can bring the old
// one back. Callers find the capability with AsVersioner.
//
// Versioning may be off even when a store implements Versioner (a bucket
// that never had it turned on): the listing then has one version per
// object, and Versioning says so.
type Versioner interface {
	// Versioning reports whether the store keeps versions of replaced and
	// deleted objects now (S3: versioning Enabled; Suspended is false).
	Versioning(ctx context.Context) (bool, error)

	// ListVersions calls fn for every version and delete marker of the
	// objects whose names start with prefix: names in ascending byte
	// order, and the versions of one name newest first. Keys that are not
	// valid object names are skipped. An error from fn stops the listing
	// and is returned as is.
	ListVersions(ctx context.Context, prefix string, fn func(VersionInfo) error) error

	// GetVersion is Get for one version of name (see Store.Get for offset
	// and length). A missing version, or a delete marker, gives an error
	// wrapping ErrNotFound.
	GetVersion(ctx context.Context, name, versionID string, offset, length int64) (io.ReadCloser, error)

	// RestoreVersion makes versionID the current version of name again by
	// copying it onto name inside the store (S3: CopyObject from that
	// version). The copy is a new version; the ones above it stay, as
	// evidence, until they are deleted or expire.
	RestoreVersion(ctx context.Context, name, versionID string) error

	// DeleteVersion removes one version or delete marker for good. A
	// missing version is not an error. Backup credentials of an
	// append-only repository must not be allowed to do this.
	DeleteVersion(ctx context.Context, name, versionID string) error
}

// AsVersioner returns the Versioner of s, looking through decorators that
// offer Unwrap() Store (as the retry decorator does) when s itself is not
// one. Version operations then bypass the decorator, which is acceptable
// for the rare repair paths that use them. A decorator without Unwrap (a
// create-only wrapper, say) hides the capability on purpose.
func AsVersioner(s Store) (Versioner, bool) {
	for s != nil {
		if v, ok := s.(Versioner); ok {
			return v, true
		}
		u, ok := s.(interface{ Unwrap() Store })
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}
