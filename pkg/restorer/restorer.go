package restorer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/fsmeta"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Repo is what the restorer needs of a repository; *repo.Repository
// satisfies it. File content is read pack by pack with LoadPackBlobs (not
// LoadBlob per blob).
type Repo interface {
	// LoadBlob loads one blob; used for trees and by Dump.
	LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error)
	// LoadPackBlobs reads runs of blobs from one pack (repo's one path).
	LoadPackBlobs(ctx context.Context, packID crypto.ID, entries []index.Entry, opts repo.PackReadOptions, fn repo.BlobFunc) error
	Index() repo.IndexReader
	// Config gives the chunker parameters, to compare existing files
	// (OverwriteIfChanged).
	Config() repo.Config
	Connections() int
	// Keys gives the content-ID key, to check restored files (--verify).
	Keys() *crypto.Keys
}

// Options configure Restore.
type Options struct {
	// Target is the restore root: snapshot path /home/a/x is restored to
	// Target/home/a/x. It is created when missing.
	Target string
	// Include restricts the restore to these snapshot paths and their
	// subtrees; empty means everything. Their parent directories are
	// restored too, with their metadata.
	Include []string
	// Select, when set, filters the entries below the Include paths by
	// their snapshot path ("/home/a/x"): restore says whether the entry
	// is restored, descend (for a directory) whether its entries are
	// looked at. A directory not restored but descended into is restored,
	// with its metadata, only once something below it is (select.go).
	// Restore calls it from one goroutine. It cannot be combined with
	// Delete.
	Select func(path string, isDir bool) (restore, descend bool)
	// Overwrite says what happens to entries that exist in the target
	// (existing directories are always merged into). The default skips
	// files already equal to the snapshot by size and mtime, so an
	// interrupted restore run again finishes the job.
	Overwrite Overwrite
	// Verify reads every restored file back and checks it against the
	// snapshot's content IDs before renaming it into place.
	Verify bool
	// Connections is the number of packs downloaded in parallel; zero means
	// the repository's Connections().
	Connections int
	// Progress, when set, is called about five times a second and once at
	// the end.
	Progress func(Progress)
	// Warn, when set, is called for every path that could not be restored
	// exactly. Each call is counted in Result.Errors, except for device
	// nodes skipped because only root can create them.
	Warn func(path string, err error)

	// DryRun writes nothing: it reports through Planned what a restore
	// would do to each entry and counts it in the Result (dryrun.go).
	DryRun bool
	// Delete makes the restored directories equal to the snapshot: once
	// everything was restored without an error, entries in them that the
	// snapshot does not hold are deleted, and reported to Planned
	// (delete.go). With DryRun they are only reported.
	Delete bool
	// Planned, when set, is told about each action: with DryRun every
	// entry's, otherwise each deletion. Calls come from one goroutine.
	Planned func(Planned)
}

// Progress reports a running restore or verification. The totals grow
// while the snapshot is read, batch by batch.
type Progress struct {
	Files, Bytes, TotalFiles, TotalBytes uint64
	Elapsed                              time.Duration
}

// Result summarises a restore. Files counts every restored entry that is
// not a directory (files, hard links, symlinks, fifos and devices); Bytes is
// file content. Skipped counts existing entries left as they were (by
// Options.Overwrite), SkippedBytes their content. Special counts the
// symlinks, fifos and devices among Files, so Files-Special is what a
// backup counts as files.
type Result struct {
	Files, Dirs, Bytes    uint64
	Special               uint64
	Skipped, SkippedBytes uint64
	Errors                int
}

// Restore restores snap below opts.Target, as the package documentation
// describes. Damaged data and failures on single paths do not stop it: they
// are passed to opts.Warn and counted, and Restore then returns the result
// together with an error summarising them. An include path missing from
// the snapshot, an unreadable tree or a cancelled ctx stop it with an
// error. Every file is written under a temporary name and renamed into
// place once complete, so an interrupted restore leaves no file under its
// final name that is not the snapshot's; run again, it removes the
// temporary files and, by default, skips what was finished.
func Restore(ctx context.Context, r Repo, snap *snapshot.Snapshot, opts Options) (*Result, error) {
	return restore(ctx, r, snap, opts, nil)
}

// restore is Restore with a hook that lets tests adjust the restorer.
func restore(ctx context.Context, r Repo, snap *snapshot.Snapshot, opts Options, tune func(*restorer)) (*Result, error) {
	if opts.Target == "" {
		return nil, errors.New("restore: no target directory given")
	}
	if opts.Delete && opts.Select != nil {
		return nil, errors.New("restore: --delete cannot be combined with --exclude or --include patterns; include plain paths (/home/alice) or leave out --delete")
	}
	if opts.Connections <= 0 {
		opts.Connections = max(r.Connections(), 1)
	}
	includes, err := resolveIncludes(ctx, r, snap, opts.Include)
	if err != nil {
		return nil, err
	}
	rs := newRestorer(ctx, r, opts)
	defer rs.trees.close()
	if tune != nil {
		tune(rs)
	}
	if opts.DryRun {
		if err := rs.dryRun(ctx, includes); err != nil {
			return rs.result(), err
		}
		return rs.result(), rs.errs.summary("restore --dry-run")
	}
	rs.progress.start()
	defer rs.progress.stop()

	fresh, err := rs.makeTarget()
	if err != nil {
		return nil, err
	}
	if !fresh {
		rs.removeLeftovers(rs.target)
	}
	if err := rs.restoreTrees(ctx, snap, includes, fresh); err != nil {
		rs.abortBatch()
		return rs.result(), err
	}
	if err := rs.runBatch(ctx); err != nil {
		return rs.result(), err
	}
	if err := rs.finish(ctx); err != nil {
		return rs.result(), err
	}
	if opts.Delete && !fresh { // a new target holds nothing else
		if err := rs.deleteExtras(ctx, includes); err != nil {
			return rs.result(), err
		}
	}
	return rs.result(), rs.errs.summary("restore")
}

// makeTarget creates the target directory if needed and reports whether it
// is new (then nothing below it can exist yet, and existence checks are
// skipped).
func (rs *restorer) makeTarget() (fresh bool, err error) {
	err = os.Mkdir(rs.target, 0o700)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(rs.target, 0o700); err != nil {
			return false, fmt.Errorf("restore: create target: %w", err)
		}
		return true, nil
	case errors.Is(err, fs.ErrExist):
		fi, err := os.Stat(rs.target)
		if err != nil {
			return false, fmt.Errorf("restore: %w", err)
		}
		if !fi.IsDir() {
			return false, fmt.Errorf("restore: target %s is not a directory", rs.target)
		}
		return false, nil
	}
	return false, fmt.Errorf("restore: create target: %w", err)
}

// finish creates the deferred hard links, then applies directory metadata
// deepest first, so that nothing restored afterwards changes a directory's
// times.
func (rs *restorer) finish(ctx context.Context) error {
	for _, l := range rs.links {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := rs.link(l); err != nil {
			rs.errs.add(l.path, err)
			continue
		}
		rs.files.Add(1)
		rs.progress.files.Add(1)
	}
	return rs.applyDirMeta(ctx)
}

// applyDirMeta applies directory metadata deepest first, one depth at a
// time and the directories of one depth in parallel: setting a
// directory's mode or times changes nothing of its parent, but a parent
// made unsearchable first would keep a non-root restore out of its
// children.
func (rs *restorer) applyDirMeta(ctx context.Context) error {
	byDepth := make(map[int][]*dirMeta)
	var depths []int
	for i := range rs.dirs {
		d := &rs.dirs[i]
		depth := strings.Count(d.path, string(filepath.Separator))
		if _, ok := byDepth[depth]; !ok {
			depths = append(depths, depth)
		}
		byDepth[depth] = append(byDepth[depth], d)
	}
	slices.Sort(depths)
	for _, depth := range slices.Backward(depths) {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(2 * runtime.GOMAXPROCS(0))
		for _, d := range byDepth[depth] {
			if gctx.Err() != nil {
				break
			}
			g.Go(func() error {
				if err := fsmeta.Apply(d.path, &d.node, rs.asRoot); err != nil {
					rs.errs.add(d.path, err)
				}
				return nil
			})
		}
		_ = g.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// link creates l under a temporary name and renames it into place, so an
// existing entry there is replaced only by a complete link.
func (rs *restorer) link(l hardLink) error {
	if f := l.first.file; f != nil {
		f.mu.Lock()
		ok := f.renamed && !f.failed
		f.mu.Unlock()
		if !ok {
			return fmt.Errorf("hard link to %s not made: that file could not be restored", l.first.path)
		}
	}
	temp := rs.temps.next(l.path)
	if err := link(l.first.path, temp); err != nil {
		return fmt.Errorf("hard link to %s: %w", l.first.path, err)
	}
	if err := rename(temp, l.path); err != nil {
		_ = remove(temp)
		return fmt.Errorf("hard link to %s: %w", l.first.path, err)
	}
	return nil
}

func (rs *restorer) result() *Result {
	return &Result{
		Files:        rs.files.Load(),
		Special:      rs.special.Load(),
		Dirs:         rs.dirCount.Load(),
		Bytes:        rs.progress.bytes.Load(),
		Skipped:      rs.skipped.Load(),
		SkippedBytes: rs.skippedBytes.Load(),
		Errors:       rs.errs.count(),
	}
}

// destination maps a snapshot path ("/home/a") to its place under the
// target. Names are checked by the tree decoder (no "/", ".", ".." or
// NUL), so the result cannot leave the target.
func (rs *restorer) destination(snapPath []byte) string {
	if rs.target == string(filepath.Separator) {
		return string(snapPath)
	}
	return rs.target + string(snapPath)
}
