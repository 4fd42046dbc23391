package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/exclude"
	"github.com/cairn-backup/cairn/pkg/restorer"
)

type restoreOptions struct {
	filter snapshotFilter
	target string
	// --include, --iinclude, --exclude, --iexclude (restoreSelection)
	include, iinclude, exclude, iexclude []string
	overwrite                            string
	verify                               bool
	// --dry-run, --delete, --yes (restoreplan.go)
	dryRun, delete, yes bool
}

func newRestoreCommand(a *app) *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT[:DIR] --target TARGET",
		Short: "Restore a snapshot into a directory",
		Long: `Restore a snapshot below --target: snapshot path /home/alice/x is restored
to TARGET/home/alice/x, with its metadata (modes, times, owners when run as
root, symlinks, hard links, extended attributes). SNAPSHOT is an ID, a
unique prefix, or "latest" (narrowed by --host, --tag and --path).
SNAPSHOT:DIR restores the contents of the snapshot's directory DIR into
TARGET (latest:/home/alice puts /home/alice/x at TARGET/x); --include and
--exclude paths are then relative to DIR too.

Every file is written under a temporary name (.cairn-restore-…) and renamed
into place once its content is complete, so an interrupted restore never
leaves a file that looks restored; running the same command again removes
the temporary files and finishes the job. What happens to entries that
already exist is set by --overwrite:

  (default)   skip files whose size and mtime equal the snapshot's, rewrite
              the others (what makes a rerun resume)
  always      rewrite every existing entry
  if-changed  skip files whose content equals the snapshot's (read and
              hashed), rewrite the others
  if-newer    rewrite only entries older than the snapshot's
  never       leave every existing entry as it is

Skipped entries are counted in the summary. With --verify every restored
file is read back and checked against the snapshot.

--include and --exclude take the patterns of backup --exclude (see cairn
backup --help), matched against snapshot paths; --iinclude and --iexclude
ignore case; all are repeatable. With --include only the matching entries
(a matching directory with everything below it) are restored, and the
directories leading to them with their metadata; a plain path such as
/home/alice/Documents must exist in the snapshot. --exclude leaves out
what matches, and does not enter an excluded directory. Given both, an
entry is restored when it is included and not excluded.

--dry-run writes nothing and says what a restore would do; with -v it
lists every path with its action: new, replace, skip-unchanged, update
(an existing directory restored into) or delete.

--delete makes the target equal to the snapshot: after everything was
restored without an error, entries in the restored directories that the
snapshot does not hold are deleted (only below --include paths when given;
not with patterns or --exclude). It never follows a symlink out of the
target, never enters another file system, and deletes nothing if any path
could not be restored. It asks for confirmation on a terminal; elsewhere it
needs --yes. Try it with --dry-run -v first.`,
		Example: `  cairn restore latest --target /tmp/restore
  cairn restore latest:/home/alice/Documents --target ~/Documents.old
  cairn restore 3f2a91c0 --target / --include /home/alice/Documents --overwrite if-newer
  cairn restore latest --host laptop --path /home/alice --target ./r --verify
  cairn restore latest --target / --include /etc --dry-run -v
  cairn restore latest --target ./pdfs --iinclude '*.pdf' --exclude '/home/*/.cache'
  cairn restore latest --target /srv/mirror --delete --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRestore(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	o.filter.addFlags(f)
	f.StringVarP(&o.target, "target", "t", "", "directory to restore into (required)")
	f.StringArrayVarP(&o.include, "include", "i", nil, "restore only what matches this path or pattern, and what is below it (repeatable)")
	f.StringArrayVar(&o.iinclude, "iinclude", nil, "like --include, ignoring case (repeatable)")
	f.StringArrayVarP(&o.exclude, "exclude", "e", nil, "leave out what matches this path or pattern (repeatable)")
	f.StringArrayVar(&o.iexclude, "iexclude", nil, "like --exclude, ignoring case (repeatable)")
	f.StringVar(&o.overwrite, "overwrite", "", "what to do with existing entries: always, if-changed, if-newer or never (default: skip files with the snapshot's size and mtime)")
	f.BoolVar(&o.verify, "verify", false, "read every restored file back and check it")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "write nothing; report what would be restored (each path with -v)")
	f.BoolVar(&o.delete, "delete", false, "delete entries in the restored directories that the snapshot does not hold")
	f.BoolVar(&o.yes, "yes", false, "do not ask before --delete deletes")
	_ = cmd.MarkFlagRequired("target")
	return cmd
}

func (a *app) runRestore(ctx context.Context, ref string, o restoreOptions) error {
	target, err := filepath.Abs(o.target)
	if err != nil {
		return fmt.Errorf("restore: target %s: %w", o.target, err)
	}
	mode, err := restorer.ParseOverwrite(o.overwrite)
	if err != nil {
		return err
	}
	include, sel, err := o.selection()
	if err != nil {
		return err
	}
	r, snap, done, err := a.openSnapshotAt(ctx, ref, &o.filter)
	if err != nil {
		if ctx.Err() != nil {
			return restoreInterrupted(nil, err)
		}
		return err
	}
	defer done()
	if err := a.confirmDelete(o, snap.ID.Short(), target); err != nil {
		return err
	}
	p := a.newProgress()
	defer p.done()
	start := time.Now()
	defer tuneGC()()
	plan := a.newPlanPrinter(p, o)
	res, err := restorer.Restore(ctx, r, snap.Snapshot, restorer.Options{
		Target:    target,
		Include:   include,
		Select:    sel,
		Overwrite: mode,
		Verify:    o.verify,
		DryRun:    o.dryRun,
		Delete:    o.delete,
		Planned:   plan.planned,
		Warn:      p.warn,
		Progress: func(s restorer.Progress) {
			p.update(func() string { return restoreLine("restored", s) }, func() any { return newRestoreStatus(s) }, false)
		},
	})
	p.done()
	if res != nil {
		sum := restoreSummary{MessageType: "summary", SnapshotID: snap.ID.String(), Target: target, Files: res.Files, Special: res.Special,
			Dirs: res.Dirs, Bytes: res.Bytes, Skipped: res.Skipped, SkippedBytes: res.SkippedBytes,
			Errors: res.Errors, DryRun: o.dryRun, Deleted: plan.deleted, DurationSeconds: time.Since(start).Seconds()}
		if a.v.GetBool("json") {
			_ = writeJSON(a.stdout, sum)
		} else if !a.v.GetBool("quiet") {
			sum.print(a.stdout)
			a.printRetries(a.stdout)
		}
	}
	if err != nil && ctx.Err() != nil {
		return restoreInterrupted(res, err)
	}
	return err
}

// selection turns --include, --iinclude, --exclude and --iexclude into
// the restorer's options. Includes that are all plain absolute paths,
// with no other pattern, stay exact paths (Options.Include): each must
// exist, and --delete works below them. Anything else becomes a pattern
// filter with the matcher backups use (exclude.Selector).
func (o restoreOptions) selection() ([]string, func(string, bool) (bool, bool), error) {
	plain := func(p string) bool { return strings.HasPrefix(p, "/") && !strings.ContainsAny(p, `*?[\`) }
	if len(o.iinclude)+len(o.exclude)+len(o.iexclude) == 0 && !slices.ContainsFunc(o.include, func(p string) bool { return !plain(p) }) {
		return o.include, nil, nil
	}
	if o.delete {
		return nil, nil, errors.New("restore --delete works with --include paths only, not with patterns or --exclude: restore with the patterns first, or give plain paths (/home/alice)")
	}
	var inc, exc *exclude.Matcher
	var err error
	if len(o.include)+len(o.iinclude) > 0 {
		if inc, err = exclude.New(exclude.Options{Patterns: o.include, IPatterns: o.iinclude}); err != nil {
			return nil, nil, fmt.Errorf("restore --include: %w", err)
		}
	}
	if len(o.exclude)+len(o.iexclude) > 0 {
		if exc, err = exclude.New(exclude.Options{Patterns: o.exclude, IPatterns: o.iexclude}); err != nil {
			return nil, nil, fmt.Errorf("restore --exclude: %w", err)
		}
	}
	return nil, exclude.Selector(inc, exc), nil
}

// restoreInterrupted is restore's own account of an interruption.
func restoreInterrupted(res *restorer.Result, err error) error {
	done := "nothing was restored yet"
	if res != nil {
		done = fmt.Sprintf("%d files (%s) were restored and %d already there were kept", res.Files, formatBytes(res.Bytes), res.Skipped)
	}
	return &interruptedError{err: err, msg: "restore interrupted: " + done +
		"; the files still being written were removed, the rest of the snapshot is not restored yet, and directories do not have their times and modes yet. " +
		"Run the same command again to finish: it keeps the files already restored and restores the rest"}
}

// restoreLine is the terminal status line of a restore or verify.
func restoreLine(verb string, s restorer.Progress) string {
	line := fmt.Sprintf("[%s] %s %d/%d files, %s/%s, %s", formatElapsed(s.Elapsed), verb,
		s.Files, s.TotalFiles, formatBytes(s.Bytes), formatBytes(s.TotalBytes), rate(s.Bytes, s.Elapsed))
	if e := eta(s.Bytes, s.TotalBytes, s.Elapsed); e != "" {
		line += ", " + e
	}
	return line
}

// restoreStatus is the --json status line of restore and verify. The
// totals grow while the snapshot is read.
type restoreStatus struct {
	MessageType    string  `json:"message_type"` // "status"
	FilesDone      uint64  `json:"files_done"`
	TotalFiles     uint64  `json:"total_files"`
	BytesDone      uint64  `json:"bytes_done"`
	TotalBytes     uint64  `json:"total_bytes"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

func newRestoreStatus(s restorer.Progress) restoreStatus {
	return restoreStatus{"status", s.Files, s.TotalFiles, s.Bytes, s.TotalBytes, s.Elapsed.Seconds()}
}

// restoreSummary is the --json summary line of a restore.
type restoreSummary struct {
	MessageType     string  `json:"message_type"` // "summary"
	SnapshotID      string  `json:"snapshot_id"`
	Target          string  `json:"target"`
	Files           uint64  `json:"files"`
	Special         uint64  `json:"special"` // of files: symlinks, fifos, devices
	Dirs            uint64  `json:"dirs"`
	Bytes           uint64  `json:"bytes"`
	Skipped         uint64  `json:"skipped"`
	SkippedBytes    uint64  `json:"skipped_bytes"`
	Errors          int     `json:"errors"`
	DryRun          bool    `json:"dry_run,omitempty"`
	Deleted         uint64  `json:"deleted,omitempty"` // entries --delete removed (or would)
	DurationSeconds float64 `json:"duration_seconds"`
}

func (s restoreSummary) print(w io.Writer) {
	if s.DryRun {
		s.printDryRun(w)
		return
	}
	// Files as a backup counts them (regular files), then the rest.
	fmt.Fprintf(w, "Restored %d files", s.Files-s.Special)
	if s.Special > 0 {
		fmt.Fprintf(w, ", %d symlinks and special files", s.Special)
	}
	fmt.Fprintf(w, ", %d directories, %s into %s in %s", s.Dirs, formatBytes(s.Bytes),
		s.Target, formatDuration(time.Duration(s.DurationSeconds*float64(time.Second))))
	if s.Skipped > 0 {
		fmt.Fprintf(w, "; skipped %d existing entries (%s) equal to the snapshot or kept by --overwrite", s.Skipped, formatBytes(s.SkippedBytes))
	}
	if s.Errors > 0 {
		fmt.Fprintf(w, "; %d path(s) could not be restored exactly (see the warnings above)", s.Errors)
	}
	if s.Deleted > 0 {
		fmt.Fprintf(w, "; deleted %d entries the snapshot does not hold", s.Deleted)
	}
	fmt.Fprintln(w)
}
