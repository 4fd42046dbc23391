package snapshot

import (
	"context"
	"errors"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
)

// BlobLoader loads a blob's plaintext by type and ID. The repository
// satisfies it.
type BlobLoader interface {
	LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error)
}

// SkipDir, returned by a Walk callback for a directory, skips that
// directory's contents. Returned for any other node, it skips the rest of
// the containing directory.
var SkipDir = errors.New("skip this directory")

// ErrPathNotFound means FindPath found no entry at the path.
var ErrPathNotFound = errors.New("path not found in snapshot")

// WalkDir calls fn for each entry of one directory, given by its run
// blobs, in name order. It loads one run at a time. fn may keep the node.
func WalkDir(ctx context.Context, l BlobLoader, subtree []crypto.ID, fn func(n *Node) error) error {
	panic("unimplemented")
}

// Walk visits every node below root depth-first in pre-order (a directory
// before its contents, entries in name order). path is the slash-joined
// names from the root, starting with '/', e.g. "/home/alice". fn may
// return SkipDir; any other error stops the walk and is returned.
func Walk(ctx context.Context, l BlobLoader, root []crypto.ID, fn func(path []byte, n *Node) error) error {
	panic("unimplemented")
}

// FindPath returns the node at path ("/home/alice/docs"; "/" gives a
// directory node with Subtree root). It loads only the trees on the path.
func FindPath(ctx context.Context, l BlobLoader, root []crypto.ID, path string) (*Node, error) {
	panic("unimplemented")
}
