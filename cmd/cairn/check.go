package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/check"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

type checkOptions struct {
	readData bool
	subset   string
}

func newCheckCommand(a *app) *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check [--read-data | --read-data-subset N%|n/m]",
		Short: "Check the repository for damage",
		Long: `Check that the repository is whole: every index, every pack header, every
snapshot and every tree loads, and every blob a snapshot needs is indexed
in a pack that exists. This reads only small objects.

--read-data also downloads the packs and authenticates every blob in them,
which finds bit rot inside the data. --read-data-subset reads part of the
packs: "10%" a random tenth, "n/m" the n-th of m fixed parts (run 1/7 to
7/7 on successive days to read everything once a week).

When anything is damaged, check lists the errors and the damage report:
the damaged packs, the blobs with no intact copy left, and the files and
directories of each snapshot that can no longer be restored completely. It
then exits with status 1.

check tells damage from an unreachable storage: only bytes that arrived and
failed their checks are damage. Objects the storage did not deliver (after
retries) are listed as unreadable, never as damaged; when nothing read was
damaged but something could not be read, check exits with status 13: run it
again when the storage is reachable.

check reads every index, snapshot, key, lease and deletion object from the
repository itself, never trusting the local cache instead; a cached index
that disagrees with the stored object is rebuilt. With --json, print status lines while running and
one {"message_type":"summary",…} line with the whole report.`,
		Example: `  cairn check
  cairn check --read-data
  cairn check --read-data-subset 10%
  cairn check --read-data-subset 3/7 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runCheck(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.readData, "read-data", false, "download every pack and verify its data")
	cmd.Flags().StringVar(&o.subset, "read-data-subset", "", "download and verify this `PART` of the packs: N% or n/m")
	return cmd
}

// checkResult is the report of a check, as check --json prints it and as
// cairn run's check step records it.
type checkResult struct {
	OK           bool           `json:"ok"`
	Complete     bool           `json:"complete"`
	Snapshots    int            `json:"snapshots"`
	Trees        int            `json:"trees"`
	Packs        int            `json:"packs"`
	Blobs        int            `json:"blobs"`
	PacksRead    int            `json:"packs_read"`
	Errors       []string       `json:"errors"`
	Info         []string       `json:"info"`
	Unreadable   []string       `json:"unreadable"`
	Unread       int            `json:"unread"`
	DamagedPacks []string       `json:"damaged_packs"`
	DamagedBlobs []string       `json:"damaged_blobs"`
	Affected     []affectedJSON `json:"affected"`
}

// affectedJSON is a path that can no longer be restored completely.
type affectedJSON struct {
	SnapshotID   string    `json:"snapshot_id"`
	SnapshotTime time.Time `json:"snapshot_time"`
	Path         string    `json:"path"`
}

func newCheckResult(rep *check.Report) checkResult {
	res := checkResult{OK: rep.OK(), Complete: rep.Complete(), Unread: rep.Unread,
		Unreadable: append([]string{}, rep.Unreadable...), Snapshots: rep.Snapshots, Trees: rep.Trees, Packs: rep.Packs, Blobs: rep.Blobs,
		PacksRead: rep.PacksRead, Errors: append([]string{}, rep.Errors...), Info: append([]string{}, rep.Info...),
		DamagedPacks: hexIDs(rep.DamagedPacks), DamagedBlobs: hexIDs(rep.DamagedBlobs), Affected: []affectedJSON{}}
	for _, af := range rep.Affected {
		res.Affected = append(res.Affected, affectedJSON{af.Snapshot.String(), af.Time, af.Path})
	}
	return res
}

// summary is the one line for people about a check.
func (c checkResult) summary() string {
	line := fmt.Sprintf("%d snapshots, %d trees, %d packs (%d read), %d blobs", c.Snapshots, c.Trees, c.Packs, c.PacksRead, c.Blobs)
	switch {
	case !c.OK && !c.Complete:
		return fmt.Sprintf("%s; %d error(s); %d object(s) could not be read", line, len(c.Errors), c.Unread)
	case !c.OK:
		return fmt.Sprintf("%s; %d error(s)", line, len(c.Errors))
	case !c.Complete:
		return fmt.Sprintf("%s; no damage in what was read, but %d object(s) could not be read", line, c.Unread)
	}
	return line + "; no errors"
}

// failure returns the error for a check that found damage (damageError)
// or could not read everything (wrapping check.ErrIncomplete, exit 13), or
// nil. The report is already printed.
func (c checkResult) failure(where string) error {
	switch {
	case !c.OK:
		return c.damageError(where)
	case !c.Complete:
		return fmt.Errorf("check: %w: %d object(s) could not be read (%s); run check again when the storage is reachable",
			check.ErrIncomplete, c.Unread, where)
	}
	return nil
}

// damageError reports a check that found damage; the report is already
// printed. Advice is given only for the damage proven: objects that could
// not be read are counted apart.
func (c checkResult) damageError(where string) error {
	what := fmt.Sprintf("check found %d error(s) (%s)", len(c.Errors), where)
	if !c.Complete {
		what += fmt.Sprintf(", and %d object(s) could not be read (storage unreachable; check again when it is reachable)", c.Unread)
	}
	if len(c.Affected) > 0 {
		return fmt.Errorf("%s: %d path(s) cannot be restored completely from the snapshots named; "+
			"restore them from other snapshots, or put the damaged packs back from a copy of the repository", what, len(c.Affected))
	}
	return fmt.Errorf("%s; put the damaged objects back from a copy of the repository, or report the errors", what)
}

// checkSummary is the --json summary line of check.
type checkSummary struct {
	MessageType string `json:"message_type"` // "summary"
	checkResult
	DurationSeconds float64 `json:"duration_seconds"`
}

// check runs check.Check on r with progress; cairn run's check step uses
// it too.
func (a *app) check(ctx context.Context, r *repo.Repository, opts check.Options) (*check.Report, error) {
	if opts.Subset != "" {
		if _, err := check.ParseSubset(opts.Subset); err != nil {
			return nil, fmt.Errorf("check: --read-data-subset: %w", err)
		}
	}
	opts.Connections = r.Connections()
	if cache := a.checkCache(r); cache != nil {
		defer cache.Close()
		opts.Cache = cache
	}
	p := a.newProgress()
	defer p.done()
	start := time.Now()
	var last checkProgress
	opts.Progress = func(stage check.Stage, done, total int) {
		begins := stage != last.stage
		last.stage, last.done, last.total = stage, done, total
		if stage != check.StageReadData { // ReadProgress shows that one, with bytes
			p.show(last.work(time.Since(start)), string(stage), begins)
		}
	}
	opts.ReadProgress = func(rp check.ReadProgress) {
		last.stage, last.read = check.StageReadData, rp
		p.show(last.work(time.Since(start)), string(check.StageReadData), rp.Packs == 0)
	}
	rep, err := check.Check(ctx, r, opts)
	if err != nil {
		if ctx.Err() != nil {
			p.done()
			return nil, last.interrupted(err)
		}
		return nil, fmt.Errorf("check: %w", err)
	}
	// What only this client can know: snapshots it has seen that are gone
	// without a forget (hidden, or the repository rolled back).
	if all, err := snapshot.List(ctx, r); err == nil {
		if f := a.watchSnapshots(ctx, r, all); !f.OK() {
			rep.Errors = append(rep.Errors, f.Message()...)
		}
	}
	return rep, nil
}

// checkCache opens this repository's local index cache for check to
// reconcile with the stored index objects (its own instance, so that the
// views r may be using stay open), or returns nil without a cache.
func (a *app) checkCache(r *repo.Repository) *index.Cache {
	dir, err := a.cacheDir()
	if err != nil || dir == "" {
		return nil
	}
	// repo.OpenOptions.CacheDir documents this layout.
	cache, err := index.OpenCache(filepath.Join(dir, r.Config().ID, "index"))
	if err != nil {
		return nil // check needs no cache; it only saves memory
	}
	return cache
}

func (a *app) runCheck(ctx context.Context, o checkOptions) error {
	r, _, done, err := a.openRepository(ctx)
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	rep, err := a.check(ctx, r, check.Options{ReadData: o.readData || o.subset != "", Subset: o.subset})
	if err != nil {
		return err
	}
	res := newCheckResult(rep)
	if a.v.GetBool("json") {
		if err := writeJSON(a.stdout, checkSummary{"summary", res, time.Since(start).Seconds()}); err != nil {
			return err
		}
		return res.failure("see the JSON report")
	}
	res.print(a.stdout, a.v.GetBool("quiet"))
	if !a.v.GetBool("quiet") {
		a.printRetries(a.stdout)
	}
	return res.failure("listed above")
}

// print writes the report for people: errors and the damage report, the
// information lines unless quiet, and the summary line.
func (c checkResult) print(w io.Writer, quiet bool) {
	for _, e := range c.Errors {
		fmt.Fprintf(w, "error: %s\n", oneLine(e))
	}
	if len(c.DamagedPacks) > 0 {
		fmt.Fprintf(w, "Damaged packs (%d):\n", len(c.DamagedPacks))
		for _, id := range c.DamagedPacks {
			fmt.Fprintf(w, "  %s\n", id)
		}
	}
	if len(c.DamagedBlobs) > 0 {
		fmt.Fprintf(w, "Blobs with no intact copy (%d):\n", len(c.DamagedBlobs))
		for _, id := range c.DamagedBlobs {
			fmt.Fprintf(w, "  %s\n", id)
		}
	}
	if len(c.Affected) > 0 {
		fmt.Fprintf(w, "Paths that cannot be restored completely (%d):\n", len(c.Affected))
		for _, af := range c.Affected {
			fmt.Fprintf(w, "  snapshot %s (%s): %s\n", af.SnapshotID[:8], af.SnapshotTime.Local().Format("2006-01-02 15:04:05"), printable(af.Path))
		}
	}
	if len(c.Unreadable) > 0 {
		fmt.Fprintf(w, "Could not be read (%d), not damage: the storage did not deliver them:\n", c.Unread)
		for _, u := range c.Unreadable {
			fmt.Fprintf(w, "  %s\n", oneLine(u))
		}
		fmt.Fprintf(w, "storage unreachable: %d objects could not be read; run check again when the storage is reachable\n", c.Unread)
	}
	if !quiet {
		for _, i := range c.Info {
			fmt.Fprintf(w, "info: %s\n", oneLine(i))
		}
	}
	if !quiet || !c.OK || !c.Complete {
		fmt.Fprintf(w, "Checked %s\n", c.summary())
	}
}
