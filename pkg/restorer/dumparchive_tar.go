package restorer

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// tarArchive writes PAX tar entries: nanosecond times, long and non-ASCII
// names, owners by number and name, devices, and extended attributes as
// SCHILY.xattr records (what GNU tar and restic write). The second and
// later names of a hard-linked file within the dump are hard-link entries.
type tarArchive struct {
	tw    *tar.Writer
	warn  func(string, error)
	links map[inodeKey]string // first name of each multiply-linked file
}

func newTarArchive(w io.Writer, warn func(string, error)) *tarArchive {
	return &tarArchive{tw: tar.NewWriter(w), warn: warn, links: make(map[inodeKey]string)}
}

func (a *tarArchive) add(name string, n *snapshot.Node) (io.Writer, error) {
	h := &tar.Header{
		Name:    name,
		Mode:    int64(n.Mode & snapshot.ModeMask),
		Uid:     int(n.UID),
		Gid:     int(n.GID),
		Uname:   n.User,
		Gname:   n.Group,
		ModTime: time.Unix(0, n.MTime),
		Format:  tar.FormatPAX,
	}
	if n.ATime != 0 {
		h.AccessTime = time.Unix(0, n.ATime)
	}
	if n.CTime != 0 {
		h.ChangeTime = time.Unix(0, n.CTime)
	}
	for _, x := range n.Xattrs {
		if x.Name == "" || strings.ContainsAny(x.Name, "=\x00") {
			a.warnf(name, "extended attribute %q left out: a tar header cannot hold its name", x.Name)
			continue
		}
		if h.PAXRecords == nil {
			h.PAXRecords = make(map[string]string)
		}
		h.PAXRecords["SCHILY.xattr."+x.Name] = string(x.Value)
	}
	content := false
	switch n.Type {
	case snapshot.NodeFile:
		h.Typeflag = tar.TypeReg
		if n.Links > 1 && n.Inode != 0 { // (no inode: not known to be linked)
			key := inodeKey{n.Device, n.Inode}
			if first, ok := a.links[key]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, first
				break
			}
			a.links[key] = name
		}
		h.Size = int64(n.Size)
		content = true
	case snapshot.NodeDir:
		h.Typeflag = tar.TypeDir
		h.Name += "/"
	case snapshot.NodeSymlink:
		h.Typeflag, h.Linkname = tar.TypeSymlink, string(n.LinkTarget)
	case snapshot.NodeFifo:
		h.Typeflag = tar.TypeFifo
	case snapshot.NodeCharDev, snapshot.NodeBlockDev:
		h.Typeflag = tar.TypeChar
		if n.Type == snapshot.NodeBlockDev {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(snapshot.DevMajor(n.Rdev)), int64(snapshot.DevMinor(n.Rdev))
	default:
		return nil, fmt.Errorf("unknown entry type %s", n.Type)
	}
	if err := a.tw.WriteHeader(h); err != nil {
		return nil, err
	}
	if !content {
		return nil, nil
	}
	return a.tw, nil
}

func (a *tarArchive) warnf(name, format string, args ...any) {
	if a.warn != nil {
		a.warn("/"+name, fmt.Errorf(format, args...))
	}
}

func (a *tarArchive) close() error { return a.tw.Close() }
