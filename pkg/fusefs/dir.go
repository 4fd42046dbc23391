package fusefs

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/lru"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// TreeCacheSize is the default bound of the decoded tree runs kept, in
// (estimated) bytes of decoded nodes.
const TreeCacheSize = 32 << 20

// trees loads and decodes tree runs through a bounded cache, and
// remembers the last name of every run it decoded (a few dozen bytes
// each), so that a lookup in a directory of many runs decodes only the
// run that can hold the name.
type trees struct {
	loader  snapshot.BlobLoader
	decoded *lru.LRU[crypto.ID, []snapshot.Node]
	last    *lru.LRU[crypto.ID, []byte]
}

func newTrees(l snapshot.BlobLoader, budget int64) *trees {
	return &trees{
		loader:  l,
		decoded: lru.New[crypto.ID, []snapshot.Node](budget),
		last:    lru.New[crypto.ID, []byte](budget / 8),
	}
}

// run returns the decoded entries of tree blob id. They are shared: callers
// copy what they keep.
func (t *trees) run(ctx context.Context, id crypto.ID, dir string) ([]snapshot.Node, error) {
	if nodes, ok := t.decoded.Get(id); ok {
		return nodes, nil
	}
	body, err := t.loader.LoadBlob(ctx, pack.TreeBlob, id)
	if err != nil {
		return nil, fmt.Errorf("directory %q: load tree %s: %w", dir, id.Short(), err)
	}
	nodes, err := snapshot.DecodeTree(body)
	if err != nil {
		return nil, fmt.Errorf("directory %q: tree %s: %w", dir, id.Short(), err)
	}
	t.decoded.Add(id, nodes, int64(len(body))*2+int64(len(nodes))*int64(nodeOverhead))
	if len(nodes) > 0 {
		name := nodes[len(nodes)-1].Name
		t.last.Add(id, name, int64(len(name))+64)
	}
	return nodes, nil
}

// nodeOverhead approximates the memory of a decoded node beyond its
// variable-length fields.
const nodeOverhead = 256

// dirNode is a directory of a snapshot's tree (or a snapshot's root).
type dirNode struct {
	entry
}

var (
	_ fs.NodeLookuper  = (*dirNode)(nil)
	_ fs.NodeReaddirer = (*dirNode)(nil)
)

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n, err := d.find(ctx, []byte(name))
	if err != nil {
		if ctx.Err() != nil {
			return nil, syscall.EINTR
		}
		d.fsys.warn(err)
		return nil, syscall.EIO
	}
	if n == nil {
		return nil, syscall.ENOENT
	}
	fillAttr(n, &out.Attr)
	if ch := d.GetChild(name); ch != nil {
		if e, ok := ch.Operations().(interface{ snapshotNode() *snapshot.Node }); ok && sameNode(e.snapshotNode(), n) {
			return ch, 0
		}
	}
	return d.fsys.newEntryInode(ctx, d.EmbeddedInode(), d.childPath(name), n), 0
}

func (e *entry) snapshotNode() *snapshot.Node { return e.node }

// sameNode reports whether an inode made before still shows n (it always
// does: trees never change; this guards against a mistake elsewhere).
func sameNode(a, b *snapshot.Node) bool {
	return a.Type == b.Type && bytes.Equal(a.Name, b.Name) && a.Size == b.Size && a.MTime == b.MTime
}

func (d *dirNode) childPath(name string) string {
	if d.path == "/" {
		return "/" + name
	}
	return d.path + "/" + name
}

// find returns a copy of the entry called name, or nil when there is
// none. Runs are sorted and follow each other in name order, so only the
// first run whose last name is not before name can hold it.
func (d *dirNode) find(ctx context.Context, name []byte) (*snapshot.Node, error) {
	for _, id := range d.node.Subtree {
		if last, ok := d.fsys.trees.last.Get(id); ok && bytes.Compare(name, last) > 0 {
			continue
		}
		nodes, err := d.fsys.trees.run(ctx, id, d.path)
		if err != nil {
			return nil, err
		}
		i := sort.Search(len(nodes), func(i int) bool { return bytes.Compare(nodes[i].Name, name) >= 0 })
		if i < len(nodes) {
			if bytes.Equal(nodes[i].Name, name) {
				n := nodes[i]
				return &n, nil
			}
			return nil, nil
		}
	}
	return nil, nil
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return &dirStream{ctx: d.fsys.ctx, d: d, runs: d.node.Subtree}, 0
}

// dirStream lists a directory one tree run at a time, so a directory of
// millions of entries is never decoded at once.
type dirStream struct {
	ctx   context.Context
	d     *dirNode
	runs  []crypto.ID
	nodes []snapshot.Node
	i     int
	last  []byte
	err   error
}

func (s *dirStream) HasNext() bool {
	for s.err == nil && s.i >= len(s.nodes) {
		if len(s.runs) == 0 {
			return false
		}
		id := s.runs[0]
		s.runs = s.runs[1:]
		nodes, err := s.d.fsys.trees.run(s.ctx, id, s.d.path)
		if err == nil && len(nodes) > 0 && s.last != nil && bytes.Compare(s.last, nodes[0].Name) >= 0 {
			err = fmt.Errorf("directory %q: %w: tree %s starts with %q, not after %q", s.d.path, snapshot.ErrCorruptTree, id.Short(), nodes[0].Name, s.last)
		}
		if err != nil {
			s.err = err
			s.d.fsys.warn(err)
			return true
		}
		if len(nodes) > 0 {
			s.last = nodes[len(nodes)-1].Name
		}
		s.nodes, s.i = nodes, 0
	}
	return true
}

func (s *dirStream) Next() (fuse.DirEntry, syscall.Errno) {
	if s.err != nil {
		return fuse.DirEntry{}, syscall.EIO
	}
	n := &s.nodes[s.i]
	s.i++
	return fuse.DirEntry{Name: string(n.Name), Mode: typeBits(n.Type)}, 0
}

func (s *dirStream) Close() {}
