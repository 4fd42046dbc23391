package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/repo"
)

func newRepairCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Rebuild repository structures from the data itself",
		Long: `Rebuild repository structures that were lost or damaged from what the
packs themselves record (cairn repair index), or bring back the genuine
versions of overwritten and hidden objects on a versioned bucket (cairn
repair objects).`,
		Example: `  cairn repair index --dry-run
  cairn repair index
  cairn repair objects --dry-run`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newRepairIndexCommand(a), newRepairObjectsCommand(a))
	return cmd
}

type repairIndexOptions struct {
	dryRun bool
}

func newRepairIndexCommand(a *app) *cobra.Command {
	var o repairIndexOptions
	cmd := &cobra.Command{
		Use:   "index",
		Short: "Rebuild the index from the pack headers",
		Long: `Rebuild the index, which says where each blob is stored, from the headers of
the packs (only the headers are read, not the data), write it as one new
index object and delete the old index objects, including any that fail
their checks or claim to supersede others without holding their entries.
Run it when cairn check says the index and the packs disagree, or when
index objects were lost.

A pack whose header fails its checks is named and left out: cairn check
then names the snapshots that need its blobs. If a pack header cannot be
read at all (storage unreachable), nothing is changed.

Do not run it while a prune is deleting data (its second phase): the new
index could then name a pack that prune deletes a moment later.

The repair is safe to interrupt: the new index is written before anything
is deleted, and running it again finishes the job. With credentials that
may not delete (append-only), the old index objects stay; readers ignore
those the new one provably holds and keep using the rest until a repair
with delete credentials.

With --json, print one {"message_type":"summary",…} line.`,
		Example: `  cairn repair index --dry-run
  cairn repair index`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runRepairIndex(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.dryRun, "dry-run", "n", false, "read the pack headers and report what would be written and deleted, change nothing")
	return cmd
}

// repairStatus is a --json status line of repair index.
type repairStatus struct {
	MessageType string `json:"message_type"` // "status"
	PacksDone   int    `json:"packs_done"`
	PacksTotal  int    `json:"packs_total"`
}

// repairSummary is the --json summary of repair index.
type repairSummary struct {
	MessageType     string   `json:"message_type"` // "summary"
	DryRun          bool     `json:"dry_run"`
	Packs           int      `json:"packs"`
	Blobs           int      `json:"blobs"`
	BadPacks        []string `json:"bad_packs"`
	VanishedPacks   int      `json:"vanished_packs"`
	OldIndexes      int      `json:"old_indexes"`
	NotHeld         []string `json:"indexes_not_held"`
	Written         string   `json:"written,omitempty"`
	Deleted         int      `json:"deleted"`
	Kept            int      `json:"kept"`
	DurationSeconds float64  `json:"duration_seconds"`
}

func (a *app) runRepairIndex(ctx context.Context, o repairIndexOptions) error {
	r, _, done, err := a.openRepository(ctx)
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	p := a.newProgress()
	st, err := r.RepairIndex(ctx, repo.RepairOptions{
		DryRun: o.dryRun,
		Progress: func(n, total int) {
			p.update(func() string { return fmt.Sprintf("repair index: read %d of %d pack headers", n, total) },
				func() any { return repairStatus{"status", n, total} }, n == total)
		},
	})
	p.done()
	for _, b := range st.BadPacks {
		p.warn(b.Name, fmt.Errorf("%w; its blobs are left out of the index", b.Err))
	}
	if err != nil {
		return err
	}
	sum := repairSummary{MessageType: "summary", DryRun: o.dryRun, Packs: st.Packs, Blobs: st.Blobs,
		BadPacks: []string{}, VanishedPacks: st.Vanished, OldIndexes: st.OldIndexes, NotHeld: []string{},
		Deleted: st.Deleted, Kept: st.Kept, DurationSeconds: time.Since(start).Seconds()}
	for _, b := range st.BadPacks {
		sum.BadPacks = append(sum.BadPacks, b.Name)
	}
	for _, id := range st.NotHeld {
		sum.NotHeld = append(sum.NotHeld, repo.ObjectName(repo.KindIndex, id))
	}
	if !st.Written.IsZero() {
		sum.Written = repo.ObjectName(repo.KindIndex, st.Written)
	}
	if a.v.GetBool("json") {
		return writeJSON(a.stdout, sum)
	}
	if !a.v.GetBool("quiet") {
		printRepairSummary(a.stdout, sum, time.Since(start))
	}
	return nil
}

// printRepairSummary prints what repair index did, or would do.
func printRepairSummary(w io.Writer, s repairSummary, took time.Duration) {
	fmt.Fprintf(w, "Packs:      %d read, %d blob(s) found", s.Packs, s.Blobs)
	if n := len(s.BadPacks); n > 0 {
		fmt.Fprintf(w, "; %d with a damaged header left out (named above)", n)
	}
	if s.VanishedPacks > 0 {
		fmt.Fprintf(w, "; %d deleted meanwhile", s.VanishedPacks)
	}
	fmt.Fprintln(w)
	if n := len(s.NotHeld); n > 0 {
		fmt.Fprintf(w, "Old index:  %d object(s), %d of them with entries the packs do not back:\n", s.OldIndexes, n)
		for _, name := range s.NotHeld {
			fmt.Fprintf(w, "              %s\n", name)
		}
	} else {
		fmt.Fprintf(w, "Old index:  %d object(s), every entry backed by a pack header\n", s.OldIndexes)
	}
	switch {
	case s.DryRun:
		fmt.Fprintf(w, "Dry run:    nothing was written or deleted; the repair would write one index object of %d blob(s) and delete %d old one(s)\n", s.Blobs, s.OldIndexes)
	case s.Written == "":
		fmt.Fprintln(w, "Written:    nothing (no packs and no index)")
	default:
		fmt.Fprintf(w, "Written:    %s\n", s.Written)
		fmt.Fprintf(w, "Deleted:    %d old index object(s)", s.Deleted)
		if s.Kept > 0 {
			fmt.Fprintf(w, "; %d kept because these credentials may not delete (readers ignore those the new index provably holds)", s.Kept)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Repaired in %s\n", formatDuration(took))
}
