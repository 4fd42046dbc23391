package snapshot

import (
	"bytes"
	"fmt"
	"io/fs"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// NodeType is the kind of a directory entry. The values are part of the
// repository format (FORMAT.md section 9, tag 2).
type NodeType uint8

// Node types. Sockets have no type: they are never stored.
const (
	NodeFile     NodeType = 1
	NodeDir      NodeType = 2
	NodeSymlink  NodeType = 3
	NodeFifo     NodeType = 4
	NodeCharDev  NodeType = 5
	NodeBlockDev NodeType = 6
)

func (t NodeType) String() string {
	switch t {
	case NodeFile:
		return "file"
	case NodeDir:
		return "dir"
	case NodeSymlink:
		return "symlink"
	case NodeFifo:
		return "fifo"
	case NodeCharDev:
		return "chardev"
	case NodeBlockDev:
		return "blockdev"
	}
	return fmt.Sprintf("nodetype(%d)", uint8(t))
}

// Valid reports whether t is one of the types the format defines.
func (t NodeType) Valid() bool { return t >= NodeFile && t <= NodeBlockDev }

// ModeMask covers the bits a Node's Mode may hold: permissions plus setuid,
// setgid and sticky. The file type lives in Node.Type, never in Mode.
const ModeMask = 0o7777

// Xattr is one extended attribute of a node.
type Xattr struct {
	Name  string
	Value []byte
}

// Node is one directory entry: a file, directory, symlink, fifo or device,
// with the metadata needed to restore it. Zero-valued fields are not
// stored, so an unset field and a zero field read back the same.
type Node struct {
	// Name is the entry's exact name bytes: they need not be UTF-8 and may
	// hold newlines, but never '/' or NUL, and are never "", "." or "..".
	Name []byte
	Type NodeType
	// Mode holds permission bits including setuid, setgid and sticky
	// (ModeMask); no file type bits.
	Mode       uint32
	UID, GID   uint32
	User       string
	Group      string
	MTime      int64 // nanoseconds since 1970 UTC
	CTime      int64
	ATime      int64
	Size       uint64 // content bytes (files)
	Inode      uint64
	Device     uint64 // st_dev of the containing file system
	Links      uint64 // st_nlink
	LinkTarget []byte // symlink target, exact bytes
	// Rdev is the device number of a char or block device in Linux's
	// dev_t encoding (MakeDev); trees store it portably as major and
	// minor too.
	Rdev uint64
	// Xattrs are sorted by name, names unique.
	Xattrs []Xattr
	// Content lists the data blobs of a file, in order.
	Content []crypto.ID
	// Subtree lists the tree blobs (runs) of a directory, in order.
	Subtree []crypto.ID
	// Sparse is set when the file had holes.
	Sparse bool
}

// ValidName reports whether name may be a directory entry's name.
func ValidName(name []byte) error {
	switch {
	case len(name) == 0:
		return fmt.Errorf("empty name")
	case string(name) == "." || string(name) == "..":
		return fmt.Errorf("name %q is not allowed", name)
	case bytes.IndexByte(name, '/') >= 0:
		return fmt.Errorf("name %q contains '/'", name)
	case bytes.IndexByte(name, 0) >= 0:
		return fmt.Errorf("name %q contains NUL", name)
	}
	return nil
}

// Validate checks what the encoding cannot express or readers reject: a
// valid name and type, mode bits within ModeMask, and xattr names that are
// non-empty and unique.
func (n *Node) Validate() error {
	if err := ValidName(n.Name); err != nil {
		return err
	}
	if !n.Type.Valid() {
		return fmt.Errorf("entry %q: invalid type %d", n.Name, n.Type)
	}
	if n.Mode&^ModeMask != 0 {
		return fmt.Errorf("entry %q: mode %#o has bits outside %#o", n.Name, n.Mode, ModeMask)
	}
	seen := make(map[string]bool, len(n.Xattrs))
	for _, x := range n.Xattrs {
		if x.Name == "" {
			return fmt.Errorf("entry %q: empty xattr name", n.Name)
		}
		if seen[x.Name] {
			return fmt.Errorf("entry %q: duplicate xattr %q", n.Name, x.Name)
		}
		seen[x.Name] = true
	}
	return nil
}

// FileMode returns the node's type and permission bits as an fs.FileMode,
// as ls -l shows them and as an fs.FileInfo reports them.
func (n *Node) FileMode() fs.FileMode {
	m := fs.FileMode(n.Mode & 0o777)
	if n.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch n.Type {
	case NodeDir:
		m |= fs.ModeDir
	case NodeSymlink:
		m |= fs.ModeSymlink
	case NodeFifo:
		m |= fs.ModeNamedPipe
	case NodeCharDev:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case NodeBlockDev:
		m |= fs.ModeDevice
	}
	return m
}

// MakeDev returns the device number of major and minor in Linux's dev_t
// encoding (glibc's makedev): minor bits 0-7 and 20-43, major bits 8-19
// and 44-63. It is a bijection between 64-bit numbers and pairs of 32-bit
// ones, so DevMajor and DevMinor recover the pair from any number.
func MakeDev(major, minor uint32) uint64 {
	ma, mi := uint64(major), uint64(minor)
	return (ma&0xfffff000)<<32 | (ma&0xfff)<<8 | (mi&0xffffff00)<<12 | mi&0xff
}

// DevMajor returns the major number of dev (Linux dev_t encoding).
func DevMajor(dev uint64) uint32 {
	return uint32((dev>>32)&0xfffff000 | (dev>>8)&0xfff)
}

// DevMinor returns the minor number of dev (Linux dev_t encoding).
func DevMinor(dev uint64) uint32 {
	return uint32((dev>>12)&0xffffff00 | dev&0xff)
}
