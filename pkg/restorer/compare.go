package restorer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/cairn-backup/cairn/pkg/fsmeta"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// compareMeta records how the live entry at live differs from n in what a
// restore recreates: type, mode, size, mtime, symlink target, device
// number, xattrs, and (when running as root, the only case where a restore
// sets them) owner and group. It reports whether the entry exists with the
// same type and size, so that comparing contents makes sense.
func (v *verifier) compareMeta(snapPath, live string, n *snapshot.Node) bool {
	got, err := fsmeta.Lstat(live, nil)
	if errors.Is(err, fs.ErrNotExist) {
		v.differs(snapPath, "missing on disk")
		return false
	}
	if errors.Is(err, fsmeta.ErrSkip) {
		v.differs(snapPath, fmt.Sprintf("type %s != unsupported (%v)", n.Type, err))
		return false
	}
	if err != nil {
		v.differs(snapPath, "cannot read: "+err.Error())
		return false
	}
	for _, what := range metaDifferences(n, &got, v.asRoot) {
		v.differs(snapPath, what)
	}
	if got.Type != n.Type || (n.Type == snapshot.NodeFile && got.Size != n.Size) {
		return false
	}
	xattrs, err := fsmeta.ReadXattrs(live)
	if err != nil {
		v.differs(snapPath, "cannot read xattrs: "+err.Error())
		return true
	}
	for _, what := range xattrDifferences(n.Xattrs, xattrs) {
		v.differs(snapPath, what)
	}
	return true
}

// metaDifferences compares two nodes of the same path, snapshot first.
func metaDifferences(want, got *snapshot.Node, owners bool) []string {
	if want.Type != got.Type {
		return []string{fmt.Sprintf("type %s != %s", want.Type, got.Type)}
	}
	var out []string
	if want.Type != snapshot.NodeSymlink && want.Mode != got.Mode {
		out = append(out, fmt.Sprintf("mode %04o != %04o", want.Mode, got.Mode))
	}
	if want.Type == snapshot.NodeFile && want.Size != got.Size {
		out = append(out, fmt.Sprintf("size %d != %d", want.Size, got.Size))
	}
	if want.MTime != got.MTime {
		out = append(out, fmt.Sprintf("mtime %s != %s", formatNanos(want.MTime), formatNanos(got.MTime)))
	}
	if want.Type == snapshot.NodeSymlink && !bytes.Equal(want.LinkTarget, got.LinkTarget) {
		out = append(out, fmt.Sprintf("symlink target %q != %q", want.LinkTarget, got.LinkTarget))
	}
	if (want.Type == snapshot.NodeCharDev || want.Type == snapshot.NodeBlockDev) && want.Rdev != got.Rdev {
		out = append(out, fmt.Sprintf("device %#x != %#x", want.Rdev, got.Rdev))
	}
	if owners {
		if want.UID != got.UID {
			out = append(out, fmt.Sprintf("uid %d != %d", want.UID, got.UID))
		}
		if want.GID != got.GID {
			out = append(out, fmt.Sprintf("gid %d != %d", want.GID, got.GID))
		}
	}
	return out
}

// xattrDifferences compares two name-sorted xattr lists, snapshot first.
func xattrDifferences(want, got []snapshot.Xattr) []string {
	var out []string
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || (i < len(want) && want[i].Name < got[j].Name):
			out = append(out, fmt.Sprintf("xattr %s missing on disk", want[i].Name))
			i++
		case i == len(want) || got[j].Name < want[i].Name:
			out = append(out, fmt.Sprintf("xattr %s missing in snapshot", got[j].Name))
			j++
		default:
			if !bytes.Equal(want[i].Value, got[j].Value) {
				out = append(out, fmt.Sprintf("xattr %s differs", want[i].Name))
			}
			i++
			j++
		}
	}
	return out
}

func formatNanos(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
}
