package archiver

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
)

// scanTotals is what the scan ahead of a backup has counted so far: the
// regular files and bytes the backup will visit, applying the same
// excludes. It only feeds the progress display (percentage and ETA); the
// backup itself never waits for it or trusts it.
type scanTotals struct {
	files, bytes atomic.Uint64
	done         atomic.Bool
}

// scan walks paths with one goroutine, counting regular files and their
// sizes as the archiver will see them (excluded entries and what lies
// below excluded directories are left out), until it is finished or ctx
// is done. Unreadable directories are passed over: the backup reports
// them itself.
func scan(ctx context.Context, paths []string, ex Excluder, t *scanTotals) {
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			isDir := d.IsDir()
			if ex != nil || d.Type().IsRegular() {
				fi, err := d.Info()
				if err != nil {
					return nil
				}
				if ex != nil && p != root && ex.Excluded(p, isDir, fi) {
					if isDir {
						return fs.SkipDir
					}
					return nil
				}
				if fi.Mode().IsRegular() {
					t.files.Add(1)
					t.bytes.Add(uint64(fi.Size()))
				}
			}
			return nil
		})
		if err != nil {
			return
		}
	}
	t.done.Store(true)
}

// scanPaths is scan for the paths of a run; a path that does not exist is
// left to the archiver to report.
func scanPaths(ctx context.Context, paths []string, ex Excluder, t *scanTotals) {
	var existing []string
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			existing = append(existing, p)
		}
	}
	scan(ctx, existing, ex, t)
}
