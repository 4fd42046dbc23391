package restorer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/cairn-backup/cairn/pkg/chunker"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Overwrite says what a restore does with an entry that already exists in
// the target. The zero value, OverwriteIfDiffers, is what makes a restore
// resumable: running an interrupted restore again skips what it finished.
type Overwrite int

const (
	// OverwriteIfDiffers skips files whose size and modification time
	// equal the snapshot's (a restored file gets its mtime only after its
	// content is complete and in place) and rewrites the others.
	OverwriteIfDiffers Overwrite = iota
	// OverwriteAlways rewrites every existing entry.
	OverwriteAlways
	// OverwriteIfChanged skips files whose content hashes to the
	// snapshot's (read and chunked again), whatever their times.
	OverwriteIfChanged
	// OverwriteIfNewer rewrites only entries older than the snapshot's.
	OverwriteIfNewer
	// OverwriteNever leaves every existing entry as it is.
	OverwriteNever
)

var overwriteNames = []string{"", "always", "if-changed", "if-newer", "never"}

// ParseOverwrite reads restic's words for the modes: always, if-changed,
// if-newer, never; "" is the default, OverwriteIfDiffers.
func ParseOverwrite(s string) (Overwrite, error) {
	for i, name := range overwriteNames {
		if s == name {
			return Overwrite(i), nil
		}
	}
	return 0, fmt.Errorf("--overwrite %q: unknown mode; use always, if-changed, if-newer or never (or leave it out to skip files already restored)", s)
}

func (o Overwrite) String() string {
	if o == OverwriteIfDiffers {
		return "if-size-or-mtime-differs"
	}
	if int(o) < len(overwriteNames) {
		return overwriteNames[o]
	}
	return "Overwrite(" + strconv.Itoa(int(o)) + ")"
}

// keepExisting decides whether the existing entry fi at dst already is the
// snapshot's n (or, for OverwriteNever and OverwriteIfNewer, is to be kept
// anyway). It reads the file only for OverwriteIfChanged.
func (rs *restorer) keepExisting(ctx context.Context, dst string, fi fs.FileInfo, n *snapshot.Node) (bool, error) {
	mtime := fi.ModTime().UnixNano()
	switch rs.opts.Overwrite {
	case OverwriteNever:
		return true, nil
	case OverwriteAlways:
		return false, nil
	case OverwriteIfNewer:
		return mtime >= n.MTime, nil
	}
	switch n.Type {
	case snapshot.NodeFile:
		if !fi.Mode().IsRegular() || uint64(fi.Size()) != n.Size {
			return false, nil
		}
		if rs.opts.Overwrite == OverwriteIfChanged {
			return rs.sameContent(ctx, dst, n)
		}
		return mtime == n.MTime, nil
	case snapshot.NodeSymlink:
		if fi.Mode()&fs.ModeSymlink == 0 {
			return false, nil
		}
		target, err := readlink(dst)
		return err == nil && target == string(n.LinkTarget), nil
	case snapshot.NodeFifo:
		return fi.Mode()&fs.ModeNamedPipe != 0, nil
	}
	return false, nil
}

// clear decides about an existing entry at dst, by Options.Overwrite: it
// reports true when n is to be restored there. An entry that is kept is
// counted as skipped. Entries other than files are removed to make way;
// a file is replaced only when its restored copy is renamed over it. A
// directory is never replaced by something else.
func (rs *restorer) clear(ctx context.Context, dst string, n *snapshot.Node) (bool, error) {
	fi, err := lstat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		rs.errs.add(dst, err)
		return false, nil
	}
	if fi.IsDir() {
		rs.errs.add(dst, fmt.Errorf("not restored: a directory is in the way (remove it to restore this entry)"))
		return false, nil
	}
	keep, err := rs.keepExisting(ctx, dst, fi, n)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		rs.errs.add(dst, fmt.Errorf("compare with the existing file: %w", err))
		return false, nil
	}
	if keep {
		rs.skip(dst, n)
		return false, nil
	}
	if n.Type != snapshot.NodeFile {
		if err := remove(dst); err != nil {
			rs.errs.add(dst, err)
			return false, nil
		}
	}
	return true, nil
}

// skip counts an existing entry that is kept. A kept file that has other
// names becomes the one they are linked to, unless OverwriteNever kept it
// without knowing its content.
func (rs *restorer) skip(dst string, n *snapshot.Node) {
	rs.skipped.Add(1)
	rs.skippedBytes.Add(n.Size)
	rs.progress.files.Add(1)
	rs.progress.totalFiles.Add(1)
	if n.Type == snapshot.NodeFile && n.Links > 1 && rs.opts.Overwrite != OverwriteNever {
		key := inodeKey{n.Device, n.Inode}
		if _, ok := rs.linkFirst[key]; !ok {
			rs.linkFirst[key] = linkSource{path: dst}
		}
	}
}

// sameContent chunks the file at path as the backup did and compares the
// chunks' IDs with n's content.
func (rs *restorer) sameContent(ctx context.Context, path string, n *snapshot.Node) (bool, error) {
	if rs.chunker == nil {
		c, err := chunker.New(rs.repo.Config().Chunker, rs.repo.Keys().ChunkerKey(), nil)
		if err != nil {
			return false, err
		}
		rs.chunker = c
	}
	f, err := openRead(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	hasher := rs.repo.Keys().NewIDHasher()
	rs.chunker.Reset(f)
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		chunk, err := rs.chunker.Next()
		if errors.Is(err, io.EOF) {
			return i == len(n.Content), nil
		}
		if err != nil {
			return false, err
		}
		if i >= len(n.Content) || hasher.Sum(chunk) != n.Content[i] {
			return false, nil
		}
	}
}

// tempPrefix starts the name of every file a restore is still writing. The
// next restore of the same target removes such leftovers of an interrupted
// one from every directory it restores into, so two restores must not write
// into the same directory at the same time.
const tempPrefix = ".cairn-restore-"

// tempNames makes the temporary names of one restore:
// .cairn-restore-<run>-<n>-<name>, the name shortened to fit NAME_MAX.
type tempNames struct {
	run string
	seq atomic.Uint64
}

func newTempNames() *tempNames {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &tempNames{run: hex.EncodeToString(b[:])}
}

func (t *tempNames) next(dst string) string {
	dir, name := filepath.Split(dst)
	head := tempPrefix + t.run + "-" + strconv.FormatUint(t.seq.Add(1), 10) + "-"
	if len(head)+len(name) > 255 {
		name = name[:255-len(head)]
	}
	return dir + head + name
}

// isTempName reports whether name is one a restore writes to: the prefix,
// 16 hex digits and a dash.
func isTempName(name string) bool {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok || len(rest) < 17 || rest[16] != '-' {
		return false
	}
	_, err := hex.DecodeString(rest[:16])
	return err == nil
}

// removeLeftovers deletes the temporary files an interrupted restore left
// in dir, an existing directory being restored into.
func (rs *restorer) removeLeftovers(dir string) {
	d, err := openRead(dir)
	if err != nil {
		return // the directory's own restore reports problems
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(1024)
		for _, name := range names {
			if isTempName(name) {
				if err := remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					rs.errs.add(filepath.Join(dir, name), fmt.Errorf("remove the leftover of an interrupted restore: %w", err))
				}
			}
		}
		if err != nil {
			return
		}
	}
}
