package fsmeta

import (
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Lstat reads the metadata of path without following a final symlink.
func Lstat(path string, names *Names) (snapshot.Node, error) {
	panic("unimplemented")
}

// ReadXattrs returns the extended attributes of path sorted by name.
func ReadXattrs(path string) ([]snapshot.Xattr, error) {
	panic("unimplemented")
}

// Apply sets n's metadata on the restored path.
func Apply(path string, n *snapshot.Node, asRoot bool) error {
	panic("unimplemented")
}

// Mknod creates a fifo or device node at path.
func Mknod(path string, n *snapshot.Node) error {
	panic("unimplemented")
}
