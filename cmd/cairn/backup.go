package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairn-backup/cairn/pkg/archiver"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/exclude"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// excludeOptions are the --exclude* flags (and the same keys of a job).
type excludeOptions struct {
	patterns      []string
	files         []string
	iPatterns     []string // --iexclude: case-insensitive
	iFiles        []string
	ifPresent     []string
	caches        bool
	largerThan    string
	oneFileSystem bool
}

func (o *excludeOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.patterns, "exclude", "e", nil, "leave out paths matching this gitignore-style pattern (repeatable)")
	fs.StringArrayVar(&o.files, "exclude-file", nil, "read exclude patterns from this file, one per line (repeatable)")
	fs.StringArrayVar(&o.iPatterns, "iexclude", nil, "like --exclude, ignoring case (repeatable)")
	fs.StringArrayVar(&o.iFiles, "iexclude-file", nil, "like --exclude-file, ignoring case (repeatable)")
	fs.StringArrayVar(&o.ifPresent, "exclude-if-present", nil, "leave out directories that contain a file of this name (repeatable)")
	fs.BoolVar(&o.caches, "exclude-caches", false, "leave out directories tagged with a valid CACHEDIR.TAG")
	fs.StringVar(&o.largerThan, "exclude-larger-than", "", "leave out files larger than this size, e.g. 2G")
	fs.BoolVarP(&o.oneFileSystem, "one-file-system", "x", false, "do not cross into other file systems")
}

// matcher builds the exclude matcher for a backup of roots.
func (o *excludeOptions) matcher(roots []string) (*exclude.Matcher, error) {
	opts := exclude.Options{
		Patterns:      append([]string(nil), o.patterns...),
		IPatterns:     append([]string(nil), o.iPatterns...),
		IfPresent:     o.ifPresent,
		Caches:        o.caches,
		OneFileSystem: o.oneFileSystem,
		Roots:         roots,
	}
	for _, f := range [...]struct {
		files []string
		into  *[]string
	}{{o.files, &opts.Patterns}, {o.iFiles, &opts.IPatterns}} {
		for _, name := range f.files {
			path, err := expandHome(name)
			if err != nil {
				return nil, err
			}
			more, err := exclude.ReadPatternFile(path)
			if err != nil {
				return nil, err
			}
			*f.into = append(*f.into, more...)
		}
	}
	if o.largerThan != "" {
		n, err := exclude.ParseSize(o.largerThan)
		if err != nil {
			return nil, fmt.Errorf("--exclude-larger-than: %w", err)
		}
		opts.LargerThan = n
	}
	return exclude.New(opts)
}

type backupOptions struct {
	tags     []string
	host     string
	force    bool
	parent   string
	dryRun   bool
	verify   bool // --verify-dedup
	atime    bool // --with-atime
	excludes excludeOptions
	// sources: --files-from*, --stdin* (filesfrom.go, stdin.go)
	sources sourceOptions
}

func newBackupCommand(a *app) *cobra.Command {
	var o backupOptions
	cmd := &cobra.Command{
		Use:   "backup [PATH...]",
		Short: "Back up files and directories into a new snapshot",
		Long: `Back up the given files and directories into a new snapshot. Files whose
size, times and inode are unchanged since the parent snapshot (the newest
one of this host with the same paths) are not read again.

Exclude patterns follow .gitignore: "*.tmp" matches at any depth, a
leading "/" anchors at the file system root, a trailing "/" matches only
directories, "**" matches any number of directories, and "!" re-includes.

Paths may also come from lists: --files-from (one glob pattern a line,
blank lines and # comments ignored), --files-from-verbatim (one path a
line, literally) and --files-from-raw (NUL-separated, as find -print0);
"-" reads a list from standard input.

--stdin backs up standard input as one file at the snapshot root, named
by --stdin-filename (default "stdin"), mode 0600, owned by you.
--stdin-from-command runs the command given after -- and backs up its
output the same way; if the command exits non-zero, the backup fails and
no snapshot is saved.

Exit status 3 means the snapshot was saved but some files could not be
read; they are named on stderr and recorded in the snapshot.`,
		Example: `  cairn backup ~/Documents ~/Pictures
  cairn backup --tag nightly --exclude '**/node_modules' --exclude '*.tmp' ~/src
  cairn backup --exclude-caches --exclude-if-present .nobackup --one-file-system /
  cairn backup --dry-run -v ~/Documents
  find ~/src -name '*.go' -print0 | cairn backup --files-from-raw -
  pg_dump mydb | cairn backup --stdin --stdin-filename mydb.sql
  cairn backup --stdin-from-command --stdin-filename mydb.sql -- pg_dump mydb`,
		Args: cobra.ArbitraryArgs, // checked by sourceOptions.check
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runBackup(cmd.Context(), args, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.tags, "tag", nil, "tag the snapshot (repeatable)")
	f.StringVar(&o.host, "host", "", "host name to record (default: this machine's)")
	f.BoolVar(&o.force, "force", false, "read every file, ignoring the parent snapshot")
	f.StringVar(&o.parent, "parent", "", "compare with this snapshot instead of the newest matching one")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "read and chunk everything, but store nothing")
	f.BoolVar(&o.verify, "verify-dedup", false, "read and authenticate a stored copy of each blob (once per run) before deduplicating against data this backup did not write")
	f.BoolVar(&o.atime, "with-atime", false, "store access times (off by default: reading a file changes its access time, which would make every backup store new trees)")
	o.excludes.addFlags(f)
	o.sources.addFlags(f)
	return cmd
}

func (a *app) runBackup(ctx context.Context, paths []string, o backupOptions) error {
	// The lease's first look at the deletion markers, and the parent.
	r, _, done, err := a.openRepository(ctx, repo.KindDeletion, repo.KindSnapshot)
	if err != nil {
		return err
	}
	defer done()
	res, sum, err := a.backup(ctx, r, paths, o)
	if err != nil {
		return err
	}
	if a.v.GetBool("json") {
		if err := writeJSON(a.stdout, sum); err != nil {
			return err
		}
	} else if !a.v.GetBool("quiet") {
		sum.print(a.stdout)
		a.printRetries(a.stdout)
	}
	return backupOutcome(res)
}

// backup runs one backup into r with progress and warnings; run reuses it.
func (a *app) backup(ctx context.Context, r *repo.Repository, paths []string, o backupOptions) (*archiver.Result, backupSummary, error) {
	// --stdin*, --files-from* (filesfrom.go, stdin.go)
	if err := o.sources.check(paths); err != nil {
		return nil, backupSummary{}, err
	}
	var stdin *archiver.StdinSource
	if o.sources.stdinMode() {
		src, stop, err := a.stdinSource(ctx, paths, o.sources)
		if err != nil {
			return nil, backupSummary{}, err
		}
		defer stop()
		stdin, paths = src, nil
	} else {
		var err error
		if paths, err = o.sources.paths(a.stdin, paths, func(msg string) { fmt.Fprintln(a.stderr, "warning: "+msg) }); err != nil {
			return nil, backupSummary{}, err
		}
	}

	roots := make([]string, len(paths))
	for i, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, backupSummary{}, fmt.Errorf("backup %s: %w", p, err)
		}
		roots[i] = abs
	}
	opts := archiver.Options{Paths: roots, Stdin: stdin, Host: o.host, Tags: o.tags, Force: o.force, DryRun: o.dryRun,
		VerifyDedup: o.verify, WithATime: o.atime, ProgramVersion: snapshotProgramVersion()}
	if stdin == nil {
		m, err := o.excludes.matcher(roots)
		if err != nil {
			return nil, backupSummary{}, err
		}
		opts.Excluder = m
	}
	if o.parent != "" {
		e, err := snapshot.Find(ctx, r, o.parent, snapshot.Filter{})
		if err != nil {
			return nil, backupSummary{}, fmt.Errorf("--parent %s: %w", o.parent, err)
		}
		opts.Parent = &e.ID
	}
	p := a.newProgress()
	defer p.done()
	opts.Warn = p.warn
	opts.FileStatus = a.backupFileStatus(p)
	if p.active() {
		opts.Progress = func(s archiver.Progress) {
			p.update(func() string { return backupLine(s, p.lineWidth()) }, func() any { return newBackupStatus(s) }, false)
		}
	}
	defer tuneGC()()
	start := time.Now()
	res, err := archiver.Run(ctx, r, opts)
	p.done()
	if err != nil {
		return nil, backupSummary{}, fmt.Errorf("backup: %w", err)
	}
	return res, newBackupSummary(res, time.Since(start), o.dryRun), nil
}

// gcPercent is the garbage collector's target during a backup, restore or
// verify, unless GOGC is set. A backup's live heap is mostly buffers it reuses
// (packs, chunks, the chunker's), about 80 MB; Go's default of 100 lets the
// heap grow to twice that before collecting. Peak RSS on tmpfs, three runs
// each, GOGC 100 / 50 / 25: 1 GiB file 122-128 / 118-144 / 107-131 MB,
// 50,000 small files 114-117 / 92-98 / 84-86 MB, the mixed set 171-181 /
// 144-164 / 122-126 MB. At 25 the collector used 0.1-0.3 s of CPU
// (gctrace) against 0.03-0.07 s at 100, a few percent of the backup's at
// most, and the backups' CPU and wall times did not differ measurably.
const gcPercent = 25

// tuneGC sets the GC target for a long data-moving command and returns a
// function that restores the previous one.
func tuneGC() (restore func()) {
	// Unlocking the repository ran Argon2id over 64 MiB, garbage now. The
	// heap target set while it was live would let the backup grow to
	// twice that before the next collection; collecting now resets it.
	runtime.GC()
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(gcPercent)
	return func() { debug.SetGCPercent(old) }
}

// backupOutcome turns a finished backup into the command's error: exit 3
// when some files could not be read.
func backupOutcome(res *archiver.Result) error {
	if res.Skipped > 0 {
		id := "(dry run)"
		if !res.SnapshotID.IsZero() {
			id = res.SnapshotID.Short()
		}
		return &partialError{snapshot: id, skipped: res.Skipped}
	}
	return nil
}

// backupLine is the terminal status line of a running backup. No ETA: the
// archiver does not scan ahead, so the total is unknown.
func backupLine(s archiver.Progress, width int) string {
	files := fmt.Sprintf("%d files", s.Files)
	bytes := formatBytes(s.Processed)
	if s.TotalFiles > 0 {
		total := fmt.Sprintf("%d", s.TotalFiles)
		if !s.TotalsFinal {
			total += "+" // the scan ahead is still counting
		}
		files = fmt.Sprintf("%d/%s files", s.Files, total)
		bytes = fmt.Sprintf("%s/%s", formatBytes(s.Processed), formatBytes(s.TotalBytes))
		if s.TotalsFinal && s.TotalBytes > 0 {
			bytes += fmt.Sprintf(" (%d%%)", min(100, s.Processed*100/s.TotalBytes))
		}
	}
	line := fmt.Sprintf("[%s] %s, %s, %s new, %s", formatElapsed(s.Elapsed), files, bytes,
		formatBytes(s.BytesNew), rate(s.BytesRead, s.Elapsed))
	if s.TotalsFinal {
		if e := eta(s.Processed, s.TotalBytes, s.Elapsed); e != "" {
			line += ", " + e
		}
	}
	if s.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped", s.Skipped)
	}
	if s.Current != "" {
		line += "  " + shortenMiddle(printable(s.Current), width-len(line)-3)
	}
	return line
}

// backupStatus is the --json status line of a backup.
type backupStatus struct {
	MessageType    string  `json:"message_type"` // "status"
	FilesDone      uint64  `json:"files_done"`
	FilesUnchanged uint64  `json:"files_unchanged"`
	DirsDone       uint64  `json:"dirs_done"`
	BytesDone      uint64  `json:"bytes_done"` // size of the files finished
	BytesRead      uint64  `json:"bytes_read"`
	BytesNew       uint64  `json:"bytes_new"` // not yet in the repository
	Skipped        int     `json:"skipped"`
	CurrentFile    string  `json:"current_file,omitempty"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// The scan ahead: bytes_processed of total_bytes; totals_final once
	// the scan has counted everything.
	BytesProcessed uint64 `json:"bytes_processed"`
	TotalFiles     uint64 `json:"total_files"`
	TotalBytes     uint64 `json:"total_bytes"`
	TotalsFinal    bool   `json:"totals_final"`
}

func newBackupStatus(s archiver.Progress) backupStatus {
	return backupStatus{"status", s.Files, s.FilesUnchanged, s.Dirs, s.Bytes, s.BytesRead, s.BytesNew, s.Skipped, s.Current, s.Elapsed.Seconds(),
		s.Processed, s.TotalFiles, s.TotalBytes, s.TotalsFinal}
}

// backupSummary is the --json summary line of a backup.
type backupSummary struct {
	MessageType     string  `json:"message_type"` // "summary"
	SnapshotID      string  `json:"snapshot_id,omitempty"`
	DryRun          bool    `json:"dry_run"`
	FilesNew        uint64  `json:"files_new"`
	FilesChanged    uint64  `json:"files_changed"`
	FilesUnchanged  uint64  `json:"files_unchanged"`
	Dirs            uint64  `json:"dirs"`
	BytesRead       uint64  `json:"bytes_read"`
	BytesAdded      uint64  `json:"bytes_added"`  // new data after deduplication
	BytesStored     uint64  `json:"bytes_stored"` // after compression and encryption
	Skipped         int     `json:"skipped"`
	DurationSeconds float64 `json:"duration_seconds"`
}

func newBackupSummary(res *archiver.Result, d time.Duration, dryRun bool) backupSummary {
	s := res.Snapshot.Summary
	sum := backupSummary{MessageType: "summary", DryRun: dryRun, FilesNew: s.FilesNew, FilesChanged: s.FilesChanged,
		FilesUnchanged: s.FilesUnchanged, Dirs: s.Dirs, BytesRead: s.BytesRead, BytesAdded: s.BytesAdded,
		BytesStored: s.BytesStored, Skipped: res.Skipped, DurationSeconds: d.Seconds()}
	if res.SnapshotID != (crypto.ID{}) {
		sum.SnapshotID = res.SnapshotID.String()
	}
	return sum
}

func (s backupSummary) print(w io.Writer) {
	fmt.Fprintf(w, "Files:  %d new, %d changed, %d unchanged; %d directories\n", s.FilesNew, s.FilesChanged, s.FilesUnchanged, s.Dirs)
	fmt.Fprintf(w, "Data:   %s read, %s added after deduplication, %s stored after compression\n",
		formatBytes(s.BytesRead), formatBytes(s.BytesAdded), formatBytes(s.BytesStored))
	if s.Skipped > 0 {
		fmt.Fprintf(w, "Skipped: %d (see the warnings above)\n", s.Skipped)
	}
	took := formatDuration(time.Duration(s.DurationSeconds * float64(time.Second)))
	if s.DryRun {
		fmt.Fprintf(w, "Dry run in %s: nothing was stored\n", took)
		return
	}
	fmt.Fprintf(w, "Snapshot %s saved in %s\n", s.SnapshotID[:8], took)
}
