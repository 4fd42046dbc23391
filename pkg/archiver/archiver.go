package archiver

import (
	"context"
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

// ProgramVersion is recorded in every snapshot this package writes.
const ProgramVersion = "cairn dev"

// Repo is what a backup needs of a repository; *repo.Repository satisfies
// it. Run loads the index itself, after writing its lease (FORMAT.md
// section 10 needs that order), so callers need not call LoadIndex.
type Repo interface {
	snapshot.ObjectStore // snapshots: FindParent, Find, Save
	snapshot.BlobLoader  // the parent snapshot's trees
	Config() repo.Config
	Keys() *crypto.Keys
	Connections() int
	Index() repo.IndexReader
	LoadIndex(ctx context.Context) error
	NewSaver(ctx context.Context, opts repo.SaverOptions) *repo.Saver
	StartLease(ctx context.Context, operation string) (*repo.Lease, error)
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
	// from them; BytesNew the plaintext not yet in the repository.
	Bytes, BytesRead, BytesNew uint64
	// Skipped counts entries listed in the snapshot's Skipped.
	Skipped int
	// Current is a file being read, "" when none.
	Current string
	Elapsed time.Duration
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

// Run backs up opts.Paths into r and writes a snapshot. A cancelled ctx
// returns an error wrapping ctx.Err() and writes no snapshot; packs already
// uploaded are indexed by the Saver, so the next backup reuses them.
func Run(ctx context.Context, r Repo, opts Options) (*Result, error) {
	start := time.Now()
	paths, err := cleanPaths(opts.Paths)
	if err != nil {
		return nil, err
	}
	host := opts.Host
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("host name (set one with --host): %w", err)
		}
	}

	if !opts.DryRun {
		lease, err := r.StartLease(ctx, "backup")
		if err != nil {
			return nil, fmt.Errorf("write lease: %w", err)
		}
		defer endLease(ctx, lease, opts.Warn)
	}
	if err := r.LoadIndex(ctx); err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	parent, err := findParent(ctx, r, opts, host, paths)
	if err != nil {
		return nil, err
	}

	var saver blobSaver
	var flush func(context.Context) (repo.SaveStats, error)
	var saverStats func() repo.SaveStats
	if opts.DryRun {
		d := newDryRunSaver(r.Keys(), r.Index())
		saver, flush, saverStats = d, d.Flush, d.Stats
	} else {
		s := r.NewSaver(ctx, repo.SaverOptions{Connections: r.Connections()})
		saver, flush, saverStats = s, s.Flush, s.Stats
	}

	a, err := newArchiver(r, opts, saver, saverStats, parent)
	if err != nil {
		return nil, err
	}
	tree, err := a.run(ctx, paths, start)
	if err != nil {
		return nil, err
	}
	stats, err := flush(ctx)
	if err != nil {
		return nil, fmt.Errorf("store data: %w", err)
	}

	snap := a.snapshot(start, host, paths, tree, stats)
	res := &Result{Snapshot: snap, Skipped: len(snap.Skipped)}
	if parent != nil {
		snap.Parent = parent.ID
	}
	if opts.DryRun {
		return res, nil
	}
	// Only now, with every pack and index object it references stored,
	// may the snapshot exist.
	if res.SnapshotID, err = snapshot.Save(ctx, r, snap); err != nil {
		return nil, err
	}
	return res, nil
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
		ProgramVersion: ProgramVersion,
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

// leaseTimeout bounds writing the final lease, which happens also after
// the run's context was cancelled.
const leaseTimeout = 30 * time.Second

// endLease writes the done lease, whether the backup succeeded or not: in
// both cases this run will reference nothing more. A failure only delays a
// concurrent prune until the lease expires, so it is a warning.
func endLease(ctx context.Context, lease *repo.Lease, warn func(string, error)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseTimeout)
	defer cancel()
	if err := lease.Done(ctx); err != nil && warn != nil {
		warn("", fmt.Errorf("end lease (a concurrent prune waits until it expires): %w", err))
	}
}

// defaultWorkers is the number of scanning and reading goroutines: one per
// core keeps both the disk and the CPU busy; the hashing, compression and
// sealing of large files run in a separate pool of the same size.
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }
