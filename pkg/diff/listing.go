package diff

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// listing iterates over the entries of one directory, loading one tree run
// at a time, so a directory of millions of entries is never in memory at
// once.
type listing struct {
	r     Repo
	runs  []crypto.ID // runs not loaded yet
	nodes []snapshot.Node
	i     int
	path  string // for messages
	last  []byte // name of the previous run's last entry
	fresh bool   // a run was loaded that differ.plan has not seen
}

// peek returns the current entry, or nil at the end.
func (l *listing) peek(ctx context.Context) (*snapshot.Node, error) {
	for l.i >= len(l.nodes) {
		if len(l.runs) == 0 {
			return nil, nil
		}
		id := l.runs[0]
		l.runs = l.runs[1:]
		body, err := l.r.LoadBlob(ctx, pack.TreeBlob, id)
		if err != nil {
			return nil, fmt.Errorf("directory %q: load tree %s: %w", display(l.path), id.Short(), err)
		}
		nodes, err := snapshot.DecodeTree(body)
		if err != nil {
			return nil, fmt.Errorf("directory %q: tree %s: %w", display(l.path), id.Short(), err)
		}
		if len(nodes) > 0 && l.last != nil && bytes.Compare(l.last, nodes[0].Name) >= 0 {
			// The merge relies on sorted listings.
			return nil, fmt.Errorf("directory %q: %w: tree %s starts with %q, not after %q", display(l.path), snapshot.ErrCorruptTree, id.Short(), nodes[0].Name, l.last)
		}
		if len(nodes) > 0 {
			l.last = nodes[len(nodes)-1].Name
		}
		l.nodes, l.i, l.fresh = nodes, 0, true
	}
	return &l.nodes[l.i], nil
}

// next moves past the current entry.
func (l *listing) next() { l.i++ }

func display(p string) string {
	if p == "" {
		return "/"
	}
	return p
}
