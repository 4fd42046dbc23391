package archiver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"runtime"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// DefaultProgramVersion is recorded in snapshots when
// Options.ProgramVersion is empty (tests, library use).
const DefaultProgramVersion = "cairn (library)"

// Repo is what a backup needs of a repository; *repo.Repository satisfies
// it. Run begins a write session, which writes the lease and then loads
// the index (FORMAT.md section 10 needs that order), so callers need not
// call LoadIndex; a dry run only loads the index.
type Repo interface {
	snapshot.ObjectStore // snapshots: FindParent, Find, Save
	snapshot.BlobLoader  // the parent snapshot's trees
	Config() repo.Config
	Keys() *crypto.Keys
	Connections() int
	Index() repo.IndexReader
	LoadIndex(ctx context.Context) error
	BeginWrite(ctx context.Context, operation string, opts repo.WriteOptions) (*repo.WriteSession, error)
}

// Excluder decides which entries a backup leaves out. path is absolute and
// fi describes the entry as lstat saw it (fi.Sys() is its *snapshot.Node).
// It is called from several goroutines at once.
type Excluder interface {
	Excluded(path string, isDir bool, fi fs.FileInfo) bool
}

// Options configure a backup.
type Options struct {
	// Paths are the files and directories to back up. They are made
	// absolute and cleaned; each must exist.
	Paths []string
	// Stdin, if not nil, is backed up instead of Paths (which must be
	// empty), as one file at the snapshot root (see StdinSource).
	Stdin *StdinSource
	// Host is recorded in the snapshot; "" means os.Hostname.
	Host string
	Tags []string
	// Force re-reads every file instead of trusting the parent snapshot.
	Force bool
	// Parent is the snapshot to compare with; nil finds the newest one of
	// the same host and path set.
	Parent *crypto.ID
	// Excluder may be nil.
	Excluder Excluder
	// Workers is the number of goroutines that scan directories and read
	// files; 0 means runtime.GOMAXPROCS(0).
	Workers int
	// Progress, if not nil, is called about five times a second from one
	// goroutine, and once more at the end.
	Progress func(Progress)
	// DryRun walks and chunks everything and reports what would be
	// stored, but stores nothing: no packs, index, snapshot or lease.
	DryRun bool
	// VerifyDedup reads and authenticates, once per run, a stored copy of
	// every blob the backup would deduplicate against in a pack it did not
	// write (repo.SaverOptions.VerifyExisting): a forged index entry then
	// costs a re-upload instead of an unrestorable file.
	VerifyDedup bool
	// WithATime stores access times. Off by default: reading a file
	// changes its access time, and with it the tree blob of every
	// directory above it, so a backup of unchanged files would store new
	// trees each time (FORMAT.md section 9: atime is stored on request).
	WithATime bool
	// ProgramVersion is recorded in the snapshot ("cairn v1.2.3 ...");
	// empty means DefaultProgramVersion.
	ProgramVersion string
	// FileStatus, if not nil, is told what happened to each regular file
	// (new, changed, unchanged) and to each excluded or skipped entry. It
	// is called from several goroutines at once and must be quick.
	FileStatus func(FileStatus)
	// Warn, if not nil, is told about problems that do not stop the
	// backup (they are also listed in the snapshot's Skipped). Calls are
	// serialised.
	Warn func(path string, err error)

	// open and readDir replace the file opener and directory reader in
	// tests.
	open    openFunc
	readDir readDirFunc
}

// Progress is a backup's state so far.
type Progress struct {
	// Files counts regular files finished, Dirs directories; of the
	// files, FilesUnchanged were taken from the parent snapshot unread.
	Files, FilesUnchanged, Dirs uint64
	// Bytes is the size of the files finished; BytesRead what was read
	// from them; BytesNew the file content not yet in the repository.
	Bytes, BytesRead, BytesNew uint64
	// Processed is the part of the files' content dealt with so far: the
	// sizes of unchanged files plus what was read. BytesNew never exceeds
	// it.
	Processed uint64
	// Skipped counts entries listed in the snapshot's Skipped.
	Skipped int
	// Current is a file being read, "" when none.
	Current string
	Elapsed time.Duration
	// TotalFiles and TotalBytes are what a scan running ahead of the
	// backup has counted (regular files, after excludes); TotalsFinal
	// says the scan is complete. They feed percentages and ETAs only.
	TotalFiles, TotalBytes uint64
	TotalsFinal            bool
}

// Result describes a finished backup.
type Result struct {
	// SnapshotID is zero for a dry run.
	SnapshotID crypto.ID
	Snapshot   *snapshot.Snapshot
	// Skipped is len(Snapshot.Skipped): entries that could not be stored
	// completely. The CLI exits with status 3 when it is not zero.
	Skipped int
}

// Run backs up opts.Paths into r and writes a snapshot, in one write
// session (repo.BeginWrite): the session's lease announces the run, and its
// Commit secures the data against concurrent prunes before the snapshot is
// written. A cancelled ctx returns an error wrapping ctx.Err() and writes no
// snapshot; a lease that cannot be renewed stops the backup with an error
// wrapping repo.ErrLease. Either way the uploads are waited for and the
// lease is ended at once. Packs in intermediate index objects are reused by
// the next backup.
func Run(ctx context.Context, r Repo, opts Options) (*Result, error) {
	start := time.Now()
	paths, err := sourcePaths(opts)
	if err != nil {
		return nil, err
	}
	host := opts.Host
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("host name (set one with --host): %w", err)
		}
	}

	if opts.DryRun {
		return dryRun(ctx, r, opts, start, host, paths)
	}
	// The parent is looked up while the session starts: on a far-away
	// bucket each is a few round trips, and neither needs the other.
	type parentResult struct {
		e   *snapshot.Entry
		err error
	}
	parentCtx, cancelParent := context.WithCancel(ctx)
	defer cancelParent()
	parentc := make(chan parentResult, 1)
	go func() {
		e, err := findParent(parentCtx, r, opts, host, paths)
		parentc <- parentResult{e, err}
	}()
	sess, err := r.BeginWrite(ctx, "backup", repo.WriteOptions{
		Saver: repo.SaverOptions{Connections: r.Connections(), VerifyExisting: opts.VerifyDedup},
		Warn: func(err error) {
			if opts.Warn != nil {
				opts.Warn("", err)
			}
		},
	})
	if err != nil {
		cancelParent()
		<-parentc
		return nil, fmt.Errorf("start backup: %w", err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// Whatever ended the run (an error, SIGINT, SIGTERM), release
		// the lease now rather than when it expires.
		if err := sess.Abort(ctx); err != nil && opts.Warn != nil {
			opts.Warn("", err)
		}
	}()
	// The session's context is also cancelled when the lease cannot be
	// renewed: the backup stops early and says why.
	sctx := sess.Context()
	pr := <-parentc
	parent, err := pr.e, pr.err
	if err != nil {
		return nil, sessionErr(sess, err)
	}
	saver := sess.Saver()
	a, err := newArchiver(r, opts, saver, saver.Stats, parent)
	if err != nil {
		return nil, err
	}
	tree, err := a.runSource(sctx, paths, start)
	if err != nil {
		return nil, sessionErr(sess, err)
	}

	res := &Result{}
	committed = true // Commit ends the lease whatever happens
	// Commit flushes the Saver and secures the data against concurrent
	// prunes; only then, with every pack and index object it references
	// stored, may the snapshot exist.
	res.SnapshotID, err = sess.Commit(ctx, tree, func(ctx context.Context) (crypto.ID, error) {
		snap := a.snapshot(start, host, paths, tree, saver.Stats())
		if parent != nil {
			snap.Parent = parent.ID
		}
		res.Snapshot, res.Skipped = snap, len(snap.Skipped)
		return snapshot.Save(ctx, r, snap)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// sessionErr prefers the session's own failure (a lease that could not be
// renewed, wrapping repo.ErrLease) over the cancellation it caused.
func sessionErr(sess *repo.WriteSession, err error) error {
	if serr := sess.Err(); serr != nil && errors.Is(serr, repo.ErrLease) {
		return fmt.Errorf("backup stopped: %w", serr)
	}
	return err
}

// dryRun walks and chunks everything against the index without a lease or
// any write.
func dryRun(ctx context.Context, r Repo, opts Options, start time.Time, host string, paths []string) (*Result, error) {
	if err := r.LoadIndex(ctx); err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	parent, err := findParent(ctx, r, opts, host, paths)
	if err != nil {
		return nil, err
	}
	d := newDryRunSaver(r.Keys(), r.Index())
	a, err := newArchiver(r, opts, d, d.Stats, parent)
	if err != nil {
		return nil, err
	}
	tree, err := a.runSource(ctx, paths, start)
	if err != nil {
		return nil, err
	}
	stats, err := d.Flush(ctx)
	if err != nil {
		return nil, fmt.Errorf("store data: %w", err)
	}
	snap := a.snapshot(start, host, paths, tree, stats)
	if parent != nil {
		snap.Parent = parent.ID
	}
	return &Result{Snapshot: snap, Skipped: len(snap.Skipped)}, nil
}

// snapshot assembles the snapshot record of a finished walk.
func (a *archiver) snapshot(start time.Time, host string, paths []string, tree []crypto.ID, stats repo.SaveStats) *snapshot.Snapshot {
	snap := &snapshot.Snapshot{
		Time:           start,
		Host:           host,
		UID:            uint32(os.Getuid()),
		GID:            uint32(os.Getgid()),
		Paths:          paths,
		Tags:           a.opts.Tags,
		Tree:           tree,
		Skipped:        a.report.sortedSkipped(),
		ProgramVersion: cmp.Or(a.opts.ProgramVersion, DefaultProgramVersion),
		Summary: snapshot.Summary{
			FilesNew:       a.stats.filesNew.Load(),
			FilesChanged:   a.stats.filesChanged.Load(),
			FilesUnchanged: a.stats.filesUnchanged.Load(),
			Dirs:           a.stats.dirs.Load(),
			BytesRead:      a.stats.bytesRead.Load(),
			BytesAdded:     uint64(stats.BytesNew),
			BytesStored:    uint64(stats.BytesStored),
			DurationNS:     int64(time.Since(start)),
		},
	}
	if u, err := user.Current(); err == nil {
		snap.Username = u.Username
	}
	return snap
}

// findParent returns the snapshot to compare with, or nil.
func findParent(ctx context.Context, r Repo, opts Options, host string, paths []string) (*snapshot.Entry, error) {
	if opts.Parent != nil {
		e, err := snapshot.Find(ctx, r, opts.Parent.String(), snapshot.Filter{})
		if err != nil {
			return nil, fmt.Errorf("parent snapshot: %w", err)
		}
		return &e, nil
	}
	if opts.Force {
		return nil, nil
	}
	e, err := snapshot.FindParent(ctx, r, host, paths)
	if err != nil {
		return nil, fmt.Errorf("find parent snapshot: %w", err)
	}
	return e, nil
}

// defaultWorkers is the number of scanning and reading goroutines: one per
// core keeps both the disk and the CPU busy; the hashing, compression and
// sealing of large files run in a separate pool of the same size.
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }
