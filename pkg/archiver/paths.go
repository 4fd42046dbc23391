package archiver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// cleanPaths makes paths absolute and clean, sorts them, drops duplicates,
// and checks that each exists (without following a final symlink).
func cleanPaths(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, errors.New("nothing to back up: give at least one path")
	}
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("backup path %q: %w", p, err)
		}
		if _, err := os.Lstat(abs); err != nil {
			return nil, fmt.Errorf("backup path %q: %w", p, err)
		}
		out = append(out, abs)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// vdir is a directory on the way from "/" to the backup paths. The snapshot
// root mirrors absolute paths, so these directories appear in the tree with
// only the children that lead to a backup path. A leaf is a backup path
// itself, backed up completely.
type vdir struct {
	children map[string]*vdir
	leaf     bool
}

// pathTree builds the vdir tree of clean absolute paths. A path below
// another one adds nothing: the outer path covers it.
func pathTree(paths []string) *vdir {
	root := &vdir{}
	for _, p := range paths {
		d := root
		for comp := range strings.SplitSeq(p, "/") {
			if d.leaf {
				break
			}
			if comp == "" {
				continue
			}
			if d.children == nil {
				d.children = make(map[string]*vdir)
			}
			next := d.children[comp]
			if next == nil {
				next = &vdir{}
				d.children[comp] = next
			}
			d = next
		}
		d.leaf = true
		d.children = nil
	}
	return root
}

// names returns the children's names in byte order.
func (d *vdir) names() []string {
	names := make([]string, 0, len(d.children))
	for name := range d.children {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// joinPath appends name to an absolute directory path.
func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// nodeInfo presents a node as an fs.FileInfo for Excluder.
type nodeInfo struct{ n *snapshot.Node }

func (fi nodeInfo) Name() string       { return string(fi.n.Name) }
func (fi nodeInfo) Size() int64        { return int64(fi.n.Size) }
func (fi nodeInfo) ModTime() time.Time { return time.Unix(0, fi.n.MTime) }
func (fi nodeInfo) IsDir() bool        { return fi.n.Type == snapshot.NodeDir }
func (fi nodeInfo) Sys() any           { return fi.n }

func (fi nodeInfo) Mode() fs.FileMode { return fi.n.FileMode() }
