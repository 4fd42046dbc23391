package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/exclude"
	"github.com/cairn-backup/cairn/pkg/prune"
	"github.com/cairn-backup/cairn/pkg/repo"
)

type pruneOptions struct {
	dryRun          bool
	repackThreshold float64
	maxRepack       string
	grace           string
	deleteVersions  bool
	minPackAge      string
}

func newPruneCommand(a *app) *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Free the space of data no snapshot uses",
		Long: `Delete the packs that no snapshot needs any more, and repack the packs that
are mostly unused (less than --repack-threshold of their bytes in use):
their live blobs are copied into new packs first.

Prune is safe while backups run: it only marks unused packs for deletion,
and deletes them in a later phase once every backup that was running has
ended (its lease is done or expired). Deletions that still wait are counted
as pending; the next prune completes them. An interrupted prune leaves the
repository consistent.

Prune believes neither the index nor a pack's header on its own: it deletes
a pack that holds a blob some snapshot needs only once it has read and
authenticated another copy of that blob, and it deletes nothing while a
snapshot or index object cannot be read. Packs that fail these checks are
listed as bad packs and never kept as a blob's copy; run cairn check
--read-data about them. A lease left by a killed cairn on this host does
not hold deletions back.

Prune needs credentials that may delete: run it from a machine with a
privileged credential, not with a backup client's append-only one.

On a versioned bucket (the append-only mode, see the README) a deleted pack
is only hidden: its space comes back when a lifecycle rule expires
noncurrent versions, or at once with --delete-versions, which removes the
old versions of deleted packs the index no longer references (credentials
that may delete versions). Versions that object lock still retains are
reported and retried by a later prune --delete-versions.

With --json, print one {"message_type":"summary",…} line with the
statistics; sizes are bytes.`,
		Example: `  cairn prune
  cairn prune --dry-run
  cairn prune --repack-threshold 0.3 --max-repack 2G
  cairn prune --grace 2d --json
  cairn prune --delete-versions`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runPrune(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "compute what would be deleted and repacked, change nothing")
	f.Float64Var(&o.repackThreshold, "repack-threshold", prune.DefaultRepackThreshold,
		"repack packs with less than this `FRACTION` of their bytes in use; 0 repacks nothing")
	f.StringVar(&o.maxRepack, "max-repack", "", "copy at most this `SIZE` of live data when repacking, e.g. 2G (default no limit)")
	f.StringVar(&o.minPackAge, "min-pack-age", "", "leave packs younger than this `DURATION` alone, e.g. 90d for Wasabi's minimum storage duration")
	f.BoolVar(&o.deleteVersions, "delete-versions", false, "on a versioned bucket, also remove the old versions of deleted packs, so their space comes back now")
	f.StringVar(&o.grace, "grace", "", "keep data marked for deletion at least this `DURATION`, e.g. 2d or 36h (default: until running backups end)")
	return cmd
}

// options converts the flags.
func (o pruneOptions) options() (prune.Options, error) {
	opts := prune.Options{DryRun: o.dryRun, RepackThreshold: o.repackThreshold, DeleteVersions: o.deleteVersions}
	switch {
	case o.repackThreshold < 0 || o.repackThreshold > 1:
		return opts, fmt.Errorf("prune: --repack-threshold %v: want a fraction from 0 to 1", o.repackThreshold)
	case o.repackThreshold == 0:
		opts.RepackThreshold = -1 // the library's zero means its default
	}
	if o.maxRepack != "" {
		n, err := exclude.ParseSize(o.maxRepack)
		if err != nil {
			return opts, fmt.Errorf("prune: --max-repack: %w", err)
		}
		opts.MaxRepackBytes = n
	}
	if o.grace != "" {
		d, err := parseAge(o.grace)
		if err != nil {
			return opts, fmt.Errorf("prune: --grace %w", err)
		}
		opts.Grace = d
	}
	if o.minPackAge != "" {
		d, err := parseAge(o.minPackAge)
		if err != nil {
			return opts, fmt.Errorf("prune: --min-pack-age %w", err)
		}
		opts.MinPackAge = d
	}
	return opts, nil
}

// pruneSummary is the --json output of prune.
type pruneSummary struct {
	MessageType string `json:"message_type"` // "summary"
	DryRun      bool   `json:"dry_run"`
	*prune.Stats
	DurationSeconds float64 `json:"duration_seconds"`
}

func (a *app) runPrune(ctx context.Context, o pruneOptions) error {
	opts, err := o.options()
	if err != nil {
		return err
	}
	r, _, done, err := a.openRepository(ctx)
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	stats, err := a.prune(ctx, r, opts)
	if err != nil {
		return err
	}
	if a.v.GetBool("json") {
		return writeJSON(a.stdout, pruneSummary{"summary", o.dryRun, stats, time.Since(start).Seconds()})
	}
	if !a.v.GetBool("quiet") {
		printPruneStats(a.stdout, stats, o.dryRun, time.Since(start))
	}
	return nil
}

// prune runs prune.Prune on r with its connection setting, logging
// notable events on stderr with --verbose. forget --prune and cairn run's
// prune step use it too.
//
// Bad packs are always reported on stderr: they mean someone wrote a pack
// or index that lies, or a pack is damaged. A lease of a run of this host
// (as leases record it, see identity) whose process is gone does not hold
// back deletions.
func (a *app) prune(ctx context.Context, r *repo.Repository, opts prune.Options) (*prune.Stats, error) {
	opts.Connections = r.Connections()
	opts.Host, _ = identity()
	p := a.newProgress()
	defer p.done()
	opts.Log = func(msg string) {
		if a.verbosity() > 0 || strings.Contains(msg, "is never kept") || strings.Contains(msg, " waits for ") {
			p.printLine("cairn: prune: " + oneLine(msg))
		}
	}
	start := time.Now()
	opts.Progress = func(pr prune.Progress) {
		p.show(pruneWork(pr, time.Since(start)), pr.Stage, pr.Packs == 0)
	}
	stats, err := prune.Prune(ctx, r, opts)
	if err != nil && ctx.Err() != nil {
		p.done()
		return stats, pruneInterrupted(stats, err)
	}
	return stats, err
}

// pruneWork is the status line of a prune stage.
func pruneWork(pr prune.Progress, elapsed time.Duration) work {
	w := work{What: "prune: " + pr.Stage, Items: uint64(pr.Packs), TotalItems: uint64(pr.TotalPacks), Unit: "packs",
		Bytes: uint64(pr.Bytes), TotalBytes: uint64(pr.TotalBytes), Elapsed: elapsed}
	if pr.Stage == prune.StageSweep {
		w.What, w.NoRate = "prune: delete", true // bytes freed have no rate worth showing
	}
	return w
}

// pruneInterrupted is prune's account of an interruption. Prune keeps the
// repository consistent at every step (pkg/prune), so the account is what
// was deleted so far and that the next run goes on.
func pruneInterrupted(s *prune.Stats, err error) error {
	done := "nothing was deleted yet"
	if s != nil && (s.PacksDeleted > 0 || s.Markers > 0) {
		done = fmt.Sprintf("%d pack(s) were deleted so far (%s freed)", s.PacksDeleted, formatBytes(uint64(s.BytesFreed)))
		if s.Markers > 0 {
			done += fmt.Sprintf(" and %d pack(s) were marked for deletion", s.PacksCondemned)
		}
	}
	return &interruptedError{err: err, msg: "prune interrupted: " + done +
		"; the repository is consistent and every snapshot restores (a pack is deleted only once what snapshots need from it has another checked copy). " +
		"Run prune again to continue: it finishes the deletions already marked and frees the rest"}
}

// pruneDetail is the one-line account of a prune in cairn run's summary.
func pruneDetail(s *prune.Stats) string {
	detail := fmt.Sprintf("%d pack(s) deleted, %s freed, %d repacked", s.PacksDeleted, formatBytes(uint64(s.BytesFreed)), s.PacksRepacked)
	if s.MarkersPending > 0 {
		detail += fmt.Sprintf("; %d deletion(s) wait for running backups", s.MarkersPending)
	}
	if len(s.BadPacks) > 0 {
		detail += fmt.Sprintf("; %d bad pack(s), see stderr", len(s.BadPacks))
	}
	return detail
}

// printPruneStats prints what a prune did, or would do in a dry run.
func printPruneStats(w io.Writer, s *prune.Stats, dryRun bool, took time.Duration) {
	if dryRun {
		fmt.Fprintf(w, "Dry run: nothing was written or deleted. Of %d snapshot(s)' data, prune would\n", s.Snapshots)
		fmt.Fprintf(w, "  mark     %d pack(s), %s, for deletion\n", s.PacksCondemned, formatBytes(uint64(s.BytesCondemned)))
		fmt.Fprintf(w, "  repack   %d pack(s): copy %d blob(s), %s\n", s.PacksRepacked, s.BlobsRepacked, formatBytes(uint64(s.BytesRepacked)))
		if s.MarkersPending > 0 {
			fmt.Fprintf(w, "  and wait for running backups before deleting %d earlier marked set(s)\n", s.MarkersPending)
		}
		return
	}
	fmt.Fprintf(w, "Snapshots:  %d\n", s.Snapshots)
	fmt.Fprintf(w, "Marked:     %d pack(s), %s; %d repacked (%d blobs, %s copied)\n", s.PacksCondemned,
		formatBytes(uint64(s.BytesCondemned)), s.PacksRepacked, s.BlobsRepacked, formatBytes(uint64(s.BytesRepacked)))
	fmt.Fprintf(w, "Deleted:    %d pack(s); %s freed", s.PacksDeleted, formatBytes(uint64(s.BytesFreed)))
	if s.PacksTooYoung > 0 {
		fmt.Fprintf(w, "; %d young pack(s) left alone (--min-pack-age)", s.PacksTooYoung)
	}
	if s.PacksRescued > 0 {
		fmt.Fprintf(w, "; %d pack(s) kept because a newer snapshot uses them", s.PacksRescued)
	}
	fmt.Fprintln(w)
	switch {
	case s.Versioned && s.VersionsDeleted > 0 || s.Versioned && s.VersionsLocked > 0:
		fmt.Fprintf(w, "Versions:   %d old version(s) removed, %s freed", s.VersionsDeleted, formatBytes(uint64(s.VersionBytes)))
		if s.VersionsLocked > 0 {
			fmt.Fprintf(w, "; %d still retained (object lock, or no right to delete versions): a later prune --delete-versions tries again", s.VersionsLocked)
		}
		fmt.Fprintln(w)
	case s.Versioned && s.PacksDeleted > 0:
		fmt.Fprintf(w, "Versions:   the bucket keeps versions, so the %s above are hidden, not freed yet: they come back when a lifecycle rule expires noncurrent versions, or run prune --delete-versions\n", formatBytes(uint64(s.BytesFreed)))
	}
	fmt.Fprintf(w, "Cleanup:    %d index(es) merged, %d lease(s) removed\n", s.IndexesMerged, s.LeasesRemoved)
	if s.MarkersPending > 0 {
		fmt.Fprintf(w, "Pending:    %d marked set(s) wait for running backups (or --grace); run cairn prune again later to free them\n", s.MarkersPending)
	}
	if len(s.BadPacks) > 0 {
		fmt.Fprintf(w, "Bad packs:  %d, never kept as a blob's copy (a damaged pack, or one written to mislead); run cairn check --read-data:\n", len(s.BadPacks))
		for _, name := range s.BadPacks {
			fmt.Fprintf(w, "  %s\n", name)
		}
	}
	fmt.Fprintf(w, "Pruned in %s\n", formatDuration(took))
}
