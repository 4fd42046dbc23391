package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/restorer"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

type dumpOptions struct {
	filter  snapshotFilter
	archive string
	target  string
}

func newDumpCommand(a *app) *cobra.Command {
	var o dumpOptions
	cmd := &cobra.Command{
		Use:   "dump SNAPSHOT[:DIR] PATH",
		Short: "Write a file of a snapshot, or a directory as a tar or zip archive",
		Long: `Write what is at PATH in the snapshot (see cairn ls) to standard output, or
to --target FILE: the content of a file, or a directory with everything
below it as an archive, tar by default or zip with --archive zip. Pass /
to dump the whole snapshot. SNAPSHOT is an ID, a unique prefix, or "latest"
(narrowed by --host, --tag and --path).

Names in the archive are snapshot paths without the leading slash, as
restic writes them: dumping /home/alice/docs gives home/alice/docs/a.txt.
To have the directory's contents at the top of the archive, root the
snapshot there with SNAPSHOT:DIR and dump /: cairn dump latest:/home/alice/docs /
gives a.txt.

tar keeps everything: modes, owners (numbers and names), times to the
nanosecond, symlinks, hard links (later names are links to the first),
fifos, devices and extended attributes. zip keeps modes, times to the
second and symlinks; it cannot hold owners, so they are dropped, stores
hard-linked files once per name, and leaves out fifos and devices with a
warning.

Every file is read through the same checks as a restore. If a blob is
damaged or missing, the dump stops with an error naming the file and exits
non-zero; the archive is then incomplete (no end marker), so tar and unzip
reject it rather than extracting a short file. With --target the file
appears only when the dump is complete (created readable by you only). A
reader that stops early (| head) ends the dump quietly. An archive is
not written to a terminal: redirect standard output or give --target.`,
		Example: `  cairn dump latest /home/alice/notes.txt | less
  cairn dump latest /home/alice/docs > docs.tar
  cairn dump latest:/home/alice/docs / | tar -x -C /tmp/docs
  cairn dump 3f2a91c0 /etc --archive zip --target etc.zip`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDump(cmd.Context(), args[0], args[1], o)
		},
	}
	f := cmd.Flags()
	o.filter.addFlags(f)
	f.StringVarP(&o.archive, "archive", "a", "tar", `archive format of a directory: "tar" or "zip"`)
	f.StringVarP(&o.target, "target", "t", "", "write to this file instead of standard output (it appears only once the dump is complete)")
	return cmd
}

func (a *app) runDump(ctx context.Context, ref, path string, o dumpOptions) error {
	format, err := restorer.ParseArchive(o.archive)
	if err != nil {
		return err
	}
	r, snap, done, err := a.openSnapshotAt(ctx, ref, &o.filter)
	if err != nil {
		return err
	}
	defer done()
	opts := restorer.DumpOptions{Archive: format, Warn: func(p string, err error) {
		fmt.Fprintf(a.stderr, "cairn: warning: %s: %s\n", printable(p), oneLine(err.Error()))
	}}
	if o.target != "" {
		err := dumpToFile(o.target, func(w io.Writer) error {
			return restorer.DumpPath(ctx, r, snap.Snapshot, path, opts, w)
		})
		return dumpInterrupted(ctx, err, o.target+" was not written")
	}
	if isTerminal(a.stdout) {
		// As restic: an archive would garble the terminal. A file's
		// content is fine (it is usually text when sent there).
		if n, err := snapshot.FindPath(ctx, r, snap.Snapshot.Tree, path); err == nil && n.Type == snapshot.NodeDir {
			return fmt.Errorf("dump: standard output is a terminal, and the archive of %s would garble it: redirect it (> out.tar, | tar -tv) or give --target FILE", path)
		}
	}
	// A reader that closes the pipe early (head) makes writes fail with
	// EPIPE instead of killing cairn with SIGPIPE: the dump then stops
	// and cairn exits normally. The reader chose to stop and reports its
	// own outcome, so this is not a failure of the dump.
	sigpipe := make(chan os.Signal, 1)
	signal.Notify(sigpipe, syscall.SIGPIPE)
	defer signal.Stop(sigpipe)
	err = restorer.DumpPath(ctx, r, snap.Snapshot, path, opts, a.stdout)
	if errors.Is(err, syscall.EPIPE) {
		return nil
	}
	return dumpInterrupted(ctx, err, "what was written is incomplete")
}

// dumpInterrupted is dump's own account of an interruption.
func dumpInterrupted(ctx context.Context, err error, output string) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	return &interruptedError{err: err, msg: "dump interrupted: " + output + "; run the same command again to dump it in full"}
}

// dumpToFile runs dump into a temporary file next to name and renames it
// to name once complete, so a failed dump leaves no truncated archive
// that looks like a finished one.
func dumpToFile(name string, dump func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".cairn-dump-*")
	if err != nil {
		return fmt.Errorf("dump --target %s: %w", name, err)
	}
	temp := f.Name()
	err = dump(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("dump --target %s: %w", name, cerr)
	}
	if err == nil {
		if err = os.Rename(temp, name); err != nil {
			err = fmt.Errorf("dump --target %s: %w", name, err)
		}
	}
	if err != nil {
		_ = os.Remove(temp)
		return err
	}
	return nil
}
