package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

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
// the containing directory (as with io/fs.WalkDir).
var SkipDir = errors.New("skip this directory")

// ErrPathNotFound means FindPath found no entry at the path.
var ErrPathNotFound = errors.New("path not found in snapshot")

// errStop ends a directory scan early without an error.
var errStop = errors.New("stop")

// WalkDir calls fn for each entry of one directory, given by its run
// blobs, in name order. It loads and decodes one run at a time. fn may
// keep the node. An error from fn stops the scan and is returned as is.
// With a *Prefetcher as l, the directory's later runs and the subtrees of
// its directories are loaded ahead in the background.
func WalkDir(ctx context.Context, l BlobLoader, subtree []crypto.ID, fn func(n *Node) error) error {
	return walkDir(ctx, l, subtree, nil, fn)
}

// walkDir is WalkDir with the directory's path for error messages.
func walkDir(ctx context.Context, l BlobLoader, subtree []crypto.ID, dir []byte, fn func(n *Node) error) error {
	p, _ := l.(*Prefetcher)
	if p != nil && len(subtree) > 1 {
		later := subtree[1 : 1+p.Prefetch(subtree[1:]...)]
		defer p.Release(later...) // those not reached (an early stop)
	}
	var prev []byte
	for i, id := range subtree {
		if err := ctx.Err(); err != nil {
			return err
		}
		body, err := l.LoadBlob(ctx, pack.TreeBlob, id)
		if err != nil {
			return fmt.Errorf("directory %q: load tree %s: %w", displayDir(dir), id.Short(), err)
		}
		nodes, err := DecodeTree(body)
		if err != nil {
			return fmt.Errorf("directory %q: tree %s: %w", displayDir(dir), id, err)
		}
		if len(nodes) == 0 {
			continue
		}
		if prev != nil && bytes.Compare(prev, nodes[0].Name) >= 0 {
			return fmt.Errorf("directory %q: %w: run %d starts with %q, not after %q", displayDir(dir), ErrCorruptTree, i, nodes[0].Name, prev)
		}
		if err := scanRun(p, dir, nodes, fn); err != nil {
			return err
		}
		prev = nodes[len(nodes)-1].Name
	}
	return nil
}

// scanRun calls fn for each node of a decoded run, with the subtrees of
// its directories prefetched when p is not nil; those the walk did not
// enter are released when it leaves the run.
func scanRun(p *Prefetcher, dir []byte, nodes []Node, fn func(n *Node) error) error {
	if p != nil {
		defer p.Release(p.prefetchRun(dir, nodes)...)
	}
	for j := range nodes {
		if err := fn(&nodes[j]); err != nil {
			return err
		}
	}
	return nil
}

func displayDir(dir []byte) string {
	if len(dir) == 0 {
		return "/"
	}
	return string(dir)
}

// Walk visits every node below root depth-first in pre-order: a directory
// before its contents, entries in name order. path is the slash-joined
// names from the root, starting with '/', e.g. "/home/alice"; it is a
// fresh slice that fn may keep. fn may return SkipDir; any other error
// stops the walk and is returned unwrapped. Memory use is one decoded run
// per directory level, and with a *Prefetcher as l what it holds ahead.
func Walk(ctx context.Context, l BlobLoader, root []crypto.ID, fn func(path []byte, n *Node) error) error {
	return walk(ctx, l, root, nil, fn)
}

func walk(ctx context.Context, l BlobLoader, subtree []crypto.ID, dir []byte, fn func(path []byte, n *Node) error) error {
	err := walkDir(ctx, l, subtree, dir, func(n *Node) error {
		p := make([]byte, 0, len(dir)+1+len(n.Name))
		p = append(append(append(p, dir...), '/'), n.Name...)
		err := fn(p, n)
		if errors.Is(err, SkipDir) {
			if n.Type == NodeDir {
				return nil
			}
			return errStop
		}
		if err != nil {
			return err
		}
		if n.Type == NodeDir {
			return walk(ctx, l, n.Subtree, p, fn)
		}
		return nil
	})
	if err == errStop {
		return nil
	}
	return err
}

// FindPath returns the node at path, e.g. "/home/alice/docs" (the leading
// slash is optional, "." and empty components are ignored). The root, "/",
// has no entry of its own: it gives a directory node with no name and
// Subtree root. FindPath loads only the trees on the path, and in each
// directory only the runs up to the name sought. A missing entry, or a
// path through something that is not a directory, gives an error wrapping
// ErrPathNotFound.
func FindPath(ctx context.Context, l BlobLoader, root []crypto.ID, path string) (*Node, error) {
	found := &Node{Type: NodeDir, Subtree: root}
	var dir []byte
	for comp := range strings.SplitSeq(path, "/") {
		if comp == "" || comp == "." {
			continue
		}
		if comp == ".." {
			return nil, fmt.Errorf("%w: %q: \"..\" is not allowed in snapshot paths", ErrPathNotFound, path)
		}
		if found.Type != NodeDir {
			return nil, fmt.Errorf("%w: %q: %s is a %s, not a directory", ErrPathNotFound, path, displayDir(dir), found.Type)
		}
		name := []byte(comp)
		var next *Node
		err := walkDir(ctx, l, found.Subtree, dir, func(n *Node) error {
			switch c := bytes.Compare(n.Name, name); {
			case c == 0:
				next = n
				return errStop
			case c > 0:
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			return nil, err
		}
		if next == nil {
			return nil, fmt.Errorf("%w: %q: %s has no entry %q", ErrPathNotFound, path, displayDir(dir), comp)
		}
		dir = append(append(dir, '/'), name...)
		found = next
	}
	return found, nil
}
