package diff

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Repo loads tree blobs; *repo.Repository satisfies it.
type Repo interface {
	LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error)
}

// defaultConnections is how many trees are loaded ahead at a time for a
// Repo that does not say (see connections).
const defaultConnections = 8

// connections is the Repo's bound on concurrent storage requests, when it
// has one (the repository's Connections), else defaultConnections.
func connections(r Repo) int {
	if c, ok := r.(interface{ Connections() int }); ok && c.Connections() > 0 {
		return c.Connections()
	}
	return defaultConnections
}

// Kind says how an entry differs between two snapshots.
type Kind int

// The kinds of change.
const (
	Added Kind = iota + 1
	Removed
	Modified
	MetadataOnly
)

// String returns the kind's name: "added", "removed", "modified" or
// "metadata".
func (k Kind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Modified:
		return "modified"
	case MetadataOnly:
		return "metadata"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Symbol returns the one-character marker used in listings: "+", "-", "M"
// or "U" (as restic prints them).
func (k Kind) Symbol() string {
	switch k {
	case Added:
		return "+"
	case Removed:
		return "-"
	case Modified:
		return "M"
	case MetadataOnly:
		return "U"
	}
	return "?"
}

// Change is one difference between two snapshots.
type Change struct {
	// Path is absolute within the snapshot, e.g. "/home/alice/notes.txt".
	Path string
	Kind Kind
	// OldType and NewType are the entry's types (zero on the side where
	// it does not exist).
	OldType, NewType snapshot.NodeType
	// OldSize and NewSize are file sizes (zero for other types and on the
	// side where the entry does not exist).
	OldSize, NewSize uint64
	// What says what changed for Modified and MetadataOnly, e.g.
	// "content", "target", "type file → dir", "mode, mtime".
	What string
}

// String formats the change as one line: "M /path (content)".
func (c Change) String() string {
	if c.What == "" {
		return c.Kind.Symbol() + " " + c.Path
	}
	return fmt.Sprintf("%s %s (%s)", c.Kind.Symbol(), c.Path, c.What)
}

// Diff reports every difference between snapshots a (old) and b (new) to
// fn, in depth-first order of path. Identical subtrees are skipped without
// being loaded. An error from fn stops the walk and is returned as is.
func Diff(ctx context.Context, r Repo, a, b *snapshot.Snapshot, fn func(Change) error) error {
	p := snapshot.NewPrefetcher(ctx, r, snapshot.PrefetchOptions{Concurrency: connections(r)})
	defer p.Close()
	d := &differ{r: p, p: p, fn: fn}
	return d.dir(ctx, "", a.Tree, b.Tree)
}

type differ struct {
	r  Repo
	p  *snapshot.Prefetcher // r, loading the trees the diff will enter ahead
	fn func(Change) error
}

// dir compares two directories given by their tree blobs.
func (d *differ) dir(ctx context.Context, dirPath string, oldRuns, newRuns []crypto.ID) error {
	if slices.Equal(oldRuns, newRuns) {
		return nil // content-addressed: the same blobs are the same subtree
	}
	olds := &listing{r: d.r, runs: oldRuns, path: dirPath}
	news := &listing{r: d.r, runs: newRuns, path: dirPath}
	for {
		o, err := olds.peek(ctx)
		if err != nil {
			return err
		}
		n, err := news.peek(ctx)
		if err != nil {
			return err
		}
		d.plan(olds, news)
		var c int
		switch {
		case o == nil && n == nil:
			return nil
		case o == nil:
			c = 1
		case n == nil:
			c = -1
		default:
			c = bytes.Compare(o.Name, n.Name)
		}
		switch {
		case c < 0:
			err = d.whole(ctx, Removed, dirPath+"/"+string(o.Name), o)
			olds.next()
		case c > 0:
			err = d.whole(ctx, Added, dirPath+"/"+string(n.Name), n)
			news.next()
		default:
			err = d.node(ctx, dirPath+"/"+string(o.Name), o, n)
			olds.next()
			news.next()
		}
		if err != nil {
			return err
		}
	}
}

// plan prefetches, when a listing has loaded a new run, the subtrees of
// its directories that the diff will enter: every directory whose list of
// tree blobs the other side's current run does not hold (identical ones
// are skipped unread). A counterpart in another run of a huge directory
// is missed, which costs one load ahead that is not used.
func (d *differ) plan(olds, news *listing) {
	if d.p == nil {
		return
	}
	for _, side := range [2][2]*listing{{olds, news}, {news, olds}} {
		l, other := side[0], side[1]
		if !l.fresh {
			continue
		}
		l.fresh = false
		same := make(map[string]bool)
		for i := range other.nodes {
			if other.nodes[i].Type == snapshot.NodeDir {
				same[dirKey(other.nodes[i].Subtree)] = true
			}
		}
		var ids []crypto.ID
		for i := l.i; i < len(l.nodes); i++ {
			if n := &l.nodes[i]; n.Type == snapshot.NodeDir && !same[dirKey(n.Subtree)] {
				ids = append(ids, n.Subtree...)
			}
		}
		d.p.Prefetch(ids...)
	}
}

// node compares two entries of the same name.
func (d *differ) node(ctx context.Context, p string, o, n *snapshot.Node) error {
	c := Change{Path: p, OldType: o.Type, NewType: n.Type, OldSize: fileSize(o), NewSize: fileSize(n)}
	if o.Type != n.Type {
		c.Kind, c.What = Modified, fmt.Sprintf("type %s → %s", o.Type, n.Type)
		if err := d.fn(c); err != nil {
			return err
		}
		if o.Type == snapshot.NodeDir {
			if err := d.contents(ctx, Removed, p, o.Subtree); err != nil {
				return err
			}
		}
		if n.Type == snapshot.NodeDir {
			return d.contents(ctx, Added, p, n.Subtree)
		}
		return nil
	}
	var changed []string
	switch o.Type {
	case snapshot.NodeFile:
		if o.Size != n.Size || !slices.Equal(o.Content, n.Content) {
			changed = append(changed, "content")
		}
	case snapshot.NodeSymlink:
		if !bytes.Equal(o.LinkTarget, n.LinkTarget) {
			changed = append(changed, "target")
		}
	case snapshot.NodeCharDev, snapshot.NodeBlockDev:
		if o.Rdev != n.Rdev {
			changed = append(changed, "device number")
		}
	}
	meta := metadataChanges(o, n)
	switch {
	case len(changed) > 0:
		c.Kind, c.What = Modified, strings.Join(append(changed, meta...), ", ")
	case len(meta) > 0:
		c.Kind, c.What = MetadataOnly, strings.Join(meta, ", ")
	}
	if c.Kind != 0 {
		if err := d.fn(c); err != nil {
			return err
		}
	}
	if o.Type == snapshot.NodeDir {
		return d.dir(ctx, p, o.Subtree, n.Subtree)
	}
	return nil
}

// metadataChanges names the metadata fields that differ.
func metadataChanges(o, n *snapshot.Node) []string {
	var out []string
	if o.Mode != n.Mode {
		out = append(out, "mode")
	}
	if o.UID != n.UID || o.GID != n.GID || o.User != n.User || o.Group != n.Group {
		out = append(out, "owner")
	}
	if o.MTime != n.MTime {
		out = append(out, "mtime")
	}
	if !slices.EqualFunc(o.Xattrs, n.Xattrs, func(a, b snapshot.Xattr) bool {
		return a.Name == b.Name && bytes.Equal(a.Value, b.Value)
	}) {
		out = append(out, "xattrs")
	}
	return out
}

// whole reports an entry that exists on one side only, with everything
// below it when it is a directory.
func (d *differ) whole(ctx context.Context, k Kind, p string, n *snapshot.Node) error {
	c := Change{Path: p, Kind: k}
	if k == Added {
		c.NewType, c.NewSize = n.Type, fileSize(n)
	} else {
		c.OldType, c.OldSize = n.Type, fileSize(n)
	}
	if err := d.fn(c); err != nil {
		return err
	}
	if n.Type == snapshot.NodeDir {
		return d.contents(ctx, k, p, n.Subtree)
	}
	return nil
}

// contents reports every entry below a directory that exists on one side.
func (d *differ) contents(ctx context.Context, k Kind, p string, runs []crypto.ID) error {
	return snapshot.Walk(ctx, d.r, runs, func(sub []byte, n *snapshot.Node) error {
		c := Change{Path: p + string(sub), Kind: k}
		if k == Added {
			c.NewType, c.NewSize = n.Type, fileSize(n)
		} else {
			c.OldType, c.OldSize = n.Type, fileSize(n)
		}
		return d.fn(c)
	})
}

func fileSize(n *snapshot.Node) uint64 {
	if n.Type == snapshot.NodeFile {
		return n.Size
	}
	return 0
}
