package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/stats"
)

func newStatsCommand(a *app) *cobra.Command {
	var f snapshotFilter
	cmd := &cobra.Command{
		Use:   "stats [SNAPSHOT...]",
		Short: "Show what snapshots hold and what they take in the repository",
		Long: `Show, for the snapshots given by ID (or "latest"), or else those --host,
--tag and --path select (by default all):

  files          file entries (a hard link counts once per snapshot)
  restore size   bytes a restore of each of them would write, added up
                 (restic stats --mode restore-size)
  unique size    the distinct data they reference, each blob once: the
                 deduplicated size (restic stats --mode raw-data)
  stored size    what those blobs take in packs, compressed and encrypted
  blobs, packs   how many distinct blobs they reference, and in how many packs

and for each snapshot the blobs no other snapshot in the repository
references, with "frees": what cairn forget of that snapshot alone followed
by cairn prune would free (the packs only it uses, whole, and its blobs in
other packs, which prune reclaims by repacking).

Every snapshot's trees are read; a repository written before format 1.1
also has its blobs read once to learn their sizes.`,
		Example: `  cairn stats
  cairn stats latest --host laptop
  cairn stats --json | jq '.per_snapshot[] | {id, freed}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStats(cmd.Context(), args, &f)
		},
	}
	f.addFlags(cmd.Flags())
	return cmd
}

// statsJSON is the --json output: the totals, and each snapshot with its
// ID.
type statsJSON struct {
	stats.Totals
	Snapshots []statsSnapshotJSON `json:"per_snapshot"`
}

type statsSnapshotJSON struct {
	ID      string `json:"id"`
	ShortID string `json:"short_id"`
	stats.Snapshot
}

func (a *app) runStats(ctx context.Context, refs []string, f *snapshotFilter) error {
	filter, err := f.filter()
	if err != nil {
		return err
	}
	return a.withRepository(ctx, func(r *repo.Repository) error {
		all, err := snapshot.List(ctx, r)
		if err != nil {
			return err
		}
		a.watchSnapshots(ctx, r, all)
		var selected []int
		if len(refs) > 0 {
			for _, ref := range refs {
				e, err := snapshot.Find(ctx, r, ref, filter)
				if err != nil {
					return fmt.Errorf("stats: %w", err)
				}
				i := slices.IndexFunc(all, func(o snapshot.Entry) bool { return o.ID == e.ID })
				if i >= 0 && !slices.Contains(selected, i) {
					selected = append(selected, i)
				}
			}
		} else {
			selected = []int{}
			for i, e := range all {
				if filter.Match(e.Snapshot) {
					selected = append(selected, i)
				}
			}
		}
		if err := r.LoadIndex(ctx); err != nil {
			return err
		}
		res, err := stats.Compute(ctx, r, all, selected)
		if err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		if n := len(r.Skipped()); n > 0 {
			fmt.Fprintf(a.stderr, "cairn: warning: %d damaged object(s) were passed over; a snapshot that could not be read may share data counted here as unique\n", n)
		}
		if a.v.GetBool("json") {
			out := statsJSON{Totals: res.Totals, Snapshots: []statsSnapshotJSON{}}
			for _, s := range res.Snapshots {
				out.Snapshots = append(out.Snapshots, statsSnapshotJSON{ID: s.ID.String(), ShortID: s.ID.Short(), Snapshot: s})
			}
			return writeJSON(a.stdout, out)
		}
		return printStats(a, res)
	})
}

func printStats(a *app, res *stats.Result) error {
	w := a.stdout
	t := res.Totals
	fmt.Fprintf(w, "Snapshots:     %d\n", t.Snapshots)
	fmt.Fprintf(w, "Files:         %d\n", t.Files)
	fmt.Fprintf(w, "Restore size:  %s\n", formatBytes(t.RestoreSize))
	fmt.Fprintf(w, "Unique size:   %s (deduplicated)\n", formatBytes(t.UniqueSize))
	fmt.Fprintf(w, "Stored size:   %s", formatBytes(t.StoredSize))
	if t.UniqueSize > 0 {
		fmt.Fprintf(w, " (%.0f%% of unique)", 100*float64(t.StoredSize)/float64(t.UniqueSize))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Blobs:         %d (%d data, %d tree) in %d pack(s)\n", t.Blobs, t.DataBlobs, t.TreeBlobs, t.Packs)
	if len(res.Snapshots) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tTime\tHost\tFiles\tRestore size\tOnly here\tFrees\tPaths")
	for _, s := range res.Snapshots {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.ID.Short(), s.Time.Local().Format("2006-01-02 15:04:05"), printable(s.Host),
			s.Files, formatBytes(s.RestoreSize), formatBytes(s.OnlySize), formatBytes(s.Freed), printable(strings.Join(s.Paths, ", ")))
	}
	return tw.Flush()
}
