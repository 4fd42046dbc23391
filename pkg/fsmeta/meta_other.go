//go:build !linux

package fsmeta

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// errUnsupported is returned on platforms without an implementation.
var errUnsupported = fmt.Errorf("file metadata on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Lstat is not implemented on this platform.
func Lstat(path string, names *Names) (snapshot.Node, error) {
	return snapshot.Node{}, errUnsupported
}

// ReadXattrs is not implemented on this platform.
func ReadXattrs(path string) ([]snapshot.Xattr, error) { return nil, errUnsupported }

// Apply is not implemented on this platform.
func Apply(path string, n *snapshot.Node, asRoot bool) error { return errUnsupported }

// Mknod is not implemented on this platform.
func Mknod(path string, n *snapshot.Node) error { return errUnsupported }

// WithPath calls fn with path: long paths are not handled on this
// platform.
func WithPath(path string, fn func(p string) error) error { return fn(path) }
