package restorer

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// zipArchive writes zip entries with Unix modes (as Info-ZIP and restic
// do): files deflated, directories with a trailing slash, symlinks as
// entries of symlink mode whose content is the target (what unzip
// restores as a symlink). Zip has no owners, fifos or devices: owners are
// dropped, fifos and devices left out with a warning. A hard-linked file
// is stored again under each name. Times are kept to the second (the
// extended-timestamp field).
type zipArchive struct {
	zw   *zip.Writer
	warn func(string, error)
}

func newZipArchive(w io.Writer, warn func(string, error)) *zipArchive {
	return &zipArchive{zw: zip.NewWriter(w), warn: warn}
}

// errZipCannotHold marks entries a zip archive has no type for.
var errZipCannotHold = errors.New("left out: a zip archive cannot hold it (use --archive tar)")

func (a *zipArchive) add(name string, n *snapshot.Node) (io.Writer, error) {
	h := &zip.FileHeader{Name: name, Modified: time.Unix(0, n.MTime)}
	h.SetMode(n.FileMode())
	switch n.Type {
	case snapshot.NodeFile:
		h.Method = zip.Deflate
	case snapshot.NodeDir:
		h.Name += "/"
	case snapshot.NodeSymlink:
	case snapshot.NodeFifo, snapshot.NodeCharDev, snapshot.NodeBlockDev:
		if a.warn != nil {
			a.warn("/"+name, fmt.Errorf("%s %w", n.Type, errZipCannotHold))
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("unknown entry type %s", n.Type)
	}
	w, err := a.zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	switch n.Type {
	case snapshot.NodeFile:
		return w, nil
	case snapshot.NodeSymlink:
		_, err = w.Write(n.LinkTarget)
	}
	return nil, err
}

func (a *zipArchive) close() error { return a.zw.Close() }
