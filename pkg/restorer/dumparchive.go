package restorer

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Archive is the format a directory is dumped in.
type Archive int

const (
	// ArchiveTar is a POSIX (PAX) tar stream: it holds every entry type
	// and all the metadata a snapshot records.
	ArchiveTar Archive = iota
	// ArchiveZip is a zip file: no owners, no fifos or devices (left
	// out with a warning), hard links stored as copies, times to the
	// second.
	ArchiveZip
)

// ParseArchive reads --archive: "tar" (also the default, "") or "zip".
func ParseArchive(s string) (Archive, error) {
	switch s {
	case "", "tar":
		return ArchiveTar, nil
	case "zip":
		return ArchiveZip, nil
	}
	return 0, fmt.Errorf("--archive %q: give tar or zip", s)
}

// DumpOptions configure DumpPath.
type DumpOptions struct {
	// Archive is the format a directory is written in.
	Archive Archive
	// Warn, when set, is told about each entry the archive format cannot
	// hold and leaves out.
	Warn func(path string, err error)
}

// DumpPath writes what is at path in snap to w (cairn dump): the content of
// a file, or a directory with everything below it as an archive
// (DumpArchive). Other entries are errors.
func DumpPath(ctx context.Context, r Repo, snap *snapshot.Snapshot, path string, opts DumpOptions, w io.Writer) error {
	n, err := snapshot.FindPath(ctx, r, snap.Tree, path)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	switch n.Type {
	case snapshot.NodeFile:
		return writeContent(ctx, r, n, path, w)
	case snapshot.NodeDir:
		return dumpArchive(ctx, r, path, n, opts, w)
	}
	return fmt.Errorf("dump %s: it is a %s; dump writes the content of a file or an archive of a directory", path, n.Type)
}

// archiveWriter is one archive format.
type archiveWriter interface {
	// add writes the header of n under name (relative, slash-separated,
	// no trailing slash); for a file whose content follows it returns
	// the writer for it.
	add(name string, n *snapshot.Node) (content io.Writer, err error)
	// close finishes the archive. It is not called after an error, so a
	// failed dump leaves an archive that readers reject as truncated.
	close() error
}

// dumpArchive writes the entries below the directory node dir (at
// snapshot path dirPath) to w. Names are the snapshot paths without the
// leading "/", as restic writes them: dumping /home/a gives home/a/x; a
// snapshot:subfolder reference makes them relative to the subfolder. The
// directory itself has no entry (restic's layout). Trees are loaded ahead
// in parallel; file contents are read blob by blob through writeContent,
// which checks every blob and the file's length, so a damaged blob fails
// the dump naming the file instead of leaving a short entry.
func dumpArchive(ctx context.Context, r Repo, dirPath string, dir *snapshot.Node, opts DumpOptions, w io.Writer) error {
	prefix := strings.TrimPrefix(path.Clean("/"+dirPath), "/")
	if prefix != "" {
		prefix += "/"
	}
	var aw archiveWriter
	switch opts.Archive {
	case ArchiveTar:
		aw = newTarArchive(w, opts.Warn)
	case ArchiveZip:
		aw = newZipArchive(w, opts.Warn)
	default:
		return fmt.Errorf("dump: unknown archive format %d", opts.Archive)
	}
	p := snapshot.NewPrefetcher(ctx, r, snapshot.PrefetchOptions{Concurrency: r.Connections(), Deep: true})
	defer p.Close()
	err := snapshot.Walk(ctx, p, dir.Subtree, func(rel []byte, n *snapshot.Node) error {
		name := prefix + string(rel[1:])
		content, err := aw.add(name, n)
		if err != nil {
			return fmt.Errorf("dump %s: %w", "/"+name, err)
		}
		if content != nil {
			return writeContent(ctx, r, n, "/"+name, content)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := aw.close(); err != nil {
		return fmt.Errorf("dump %s: finish the archive: %w", dirPath, err)
	}
	return nil
}
