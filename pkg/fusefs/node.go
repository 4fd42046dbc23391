package fusefs

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// entry is what every node of a snapshot's tree shares: the snapshot node
// it shows, whose metadata it reports as recorded.
type entry struct {
	fs.Inode
	fsys *FS
	path string // in the snapshot, for messages
	node *snapshot.Node
}

var (
	_ fs.NodeGetattrer   = (*entry)(nil)
	_ fs.NodeListxattrer = (*entry)(nil)
	_ fs.NodeGetxattrer  = (*entry)(nil)
)

// typeBits is the S_IFMT part of a node's mode.
func typeBits(t snapshot.NodeType) uint32 {
	switch t {
	case snapshot.NodeDir:
		return syscall.S_IFDIR
	case snapshot.NodeSymlink:
		return syscall.S_IFLNK
	case snapshot.NodeFifo:
		return syscall.S_IFIFO
	case snapshot.NodeCharDev:
		return syscall.S_IFCHR
	case snapshot.NodeBlockDev:
		return syscall.S_IFBLK
	}
	return syscall.S_IFREG
}

// fillAttr reports n's metadata as the snapshot recorded it.
func fillAttr(n *snapshot.Node, a *fuse.Attr) {
	a.Mode = typeBits(n.Type) | n.Mode&snapshot.ModeMask
	a.Size = n.Size
	if n.Type == snapshot.NodeSymlink {
		a.Size = uint64(len(n.LinkTarget))
	}
	a.Blocks = (a.Size + 511) / 512
	a.Blksize = 4096
	a.Nlink = uint32(min(max(n.Links, 1), 1<<32-1))
	a.Owner = fuse.Owner{Uid: n.UID, Gid: n.GID}
	a.Rdev = uint32(n.Rdev)
	setTime(&a.Atime, &a.Atimensec, n.ATime)
	setTime(&a.Mtime, &a.Mtimensec, n.MTime)
	setTime(&a.Ctime, &a.Ctimensec, n.CTime)
}

func setTime(sec *uint64, nsec *uint32, ns int64) {
	if ns < 0 {
		return // before 1970: FUSE cannot express it; shown as the epoch
	}
	*sec, *nsec = uint64(ns/1e9), uint32(ns%1e9)
}

func (e *entry) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillAttr(e.node, &out.Attr)
	return 0
}

func (e *entry) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var size int
	for _, x := range e.node.Xattrs {
		size += len(x.Name) + 1
	}
	if len(dest) < size {
		return uint32(size), syscall.ERANGE
	}
	dest = dest[:0]
	for _, x := range e.node.Xattrs {
		dest = append(append(dest, x.Name...), 0)
	}
	return uint32(size), 0
}

func (e *entry) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	for _, x := range e.node.Xattrs {
		if x.Name != attr {
			continue
		}
		if len(dest) < len(x.Value) {
			return uint32(len(x.Value)), syscall.ERANGE
		}
		return uint32(copy(dest, x.Value)), 0
	}
	return 0, syscall.ENODATA
}

// fileNode is a regular file. Its reader is made on first open and shared
// by every handle, so lengths learned by one read serve the next.
type fileNode struct {
	entry
	once   sync.Once
	reader *fileReader
}

var (
	_ fs.NodeOpener = (*fileNode)(nil)
	_ fs.NodeReader = (*fileNode)(nil)
)

func (f *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	// Snapshots never change: the kernel may keep what it read.
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *fileNode) Read(ctx context.Context, _ fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f.once.Do(func() { f.reader = f.fsys.newFileReader(f.path, f.node) })
	n, err := f.reader.ReadAt(ctx, dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		// A short read would tell the kernel the file ends here.
		if ctx.Err() != nil {
			return nil, syscall.EINTR
		}
		f.fsys.warn(err)
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// linkNode is a symbolic link.
type linkNode struct{ entry }

var _ fs.NodeReadlinker = (*linkNode)(nil)

func (l *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return l.node.LinkTarget, 0
}

// newEntryInode makes the inode that shows node n, found in parent.
func (fsys *FS) newEntryInode(ctx context.Context, parent *fs.Inode, path string, n *snapshot.Node) *fs.Inode {
	var ops fs.InodeEmbedder
	switch n.Type {
	case snapshot.NodeDir:
		ops = &dirNode{entry: entry{fsys: fsys, path: path, node: n}}
	case snapshot.NodeFile:
		ops = &fileNode{entry: entry{fsys: fsys, path: path, node: n}}
	case snapshot.NodeSymlink:
		ops = &linkNode{entry: entry{fsys: fsys, path: path, node: n}}
	default:
		ops = &entry{fsys: fsys, path: path, node: n}
	}
	return parent.NewInode(ctx, ops, fs.StableAttr{Mode: typeBits(n.Type)})
}
