package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/restorer"
)

type verifyOptions struct {
	filter  snapshotFilter
	against []string
}

func newVerifyCommand(a *app) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify SNAPSHOT [--against PATH]",
		Short: "Read a snapshot back completely, optionally comparing it with the files",
		Long: `A restore drill: read every file of the snapshot back from the repository,
decrypt and check it, without writing anything. With --against, also
compare every entry's metadata and content with the files at PATH.

A PATH that is one of the snapshot's paths, or lies inside one, is
compared with that part of the snapshot only, so a snapshot of
~/Documents and ~/Pictures can be verified against either. Any other PATH
is taken as a copy of the snapshot's only path (a restored or moved copy);
for a snapshot of several paths that is an error. --against may be given
several times; each PATH is compared in turn.

Differences and damaged files are listed on stdout, one per line, and make
the exit status non-zero.`,
		Example: `  cairn verify latest
  cairn verify latest --against ~/Documents
  cairn verify latest --against ~/Documents --against ~/Pictures
  cairn verify 3f2a91c0 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runVerify(cmd.Context(), args[0], o)
		},
	}
	o.filter.addFlags(cmd.Flags())
	cmd.Flags().StringArrayVar(&o.against, "against", nil, "compare with the files at this path (repeatable)")
	return cmd
}

// verifySummary is the --json summary line of verify.
type verifySummary struct {
	MessageType     string           `json:"message_type"` // "summary"
	SnapshotID      string           `json:"snapshot_id"`
	Files           uint64           `json:"files"`
	Bytes           uint64           `json:"bytes"`
	Differences     []verifyMismatch `json:"differences"`
	Damaged         []string         `json:"damaged"`
	DurationSeconds float64          `json:"duration_seconds"`
}

type verifyMismatch struct {
	Path string `json:"path"`
	What string `json:"what"`
}

func (a *app) runVerify(ctx context.Context, ref string, o verifyOptions) error {
	var against []string
	for _, in := range o.against {
		p, err := expandHome(in)
		if err == nil {
			p, err = filepath.Abs(p)
		}
		if err != nil {
			return fmt.Errorf("verify: --against %s: %w", in, err)
		}
		against = append(against, p)
	}
	r, snap, done, err := a.openSnapshot(ctx, ref, &o.filter)
	if err != nil {
		return err
	}
	defer done()
	runs, err := verifyRuns(snap.Snapshot.Paths, against)
	if err != nil {
		return fmt.Errorf("verify %s: %w", snap.ID.Short(), err)
	}
	p := a.newProgress()
	defer p.done()
	start := time.Now()
	defer tuneGC()()
	res := &restorer.VerifyResult{}
	for _, run := range runs {
		one, rerr := restorer.Verify(ctx, r, snap.Snapshot, restorer.VerifyOptions{
			Against: run.Against, Base: run.Base,
			Progress: func(s restorer.Progress) {
				p.update(func() string { return restoreLine("verified", s) }, func() any { return newRestoreStatus(s) }, false)
			},
		})
		if one != nil {
			res.Files += one.Files
			res.Bytes += one.Bytes
			res.Differences = append(res.Differences, one.Differences...)
			res.Damaged = append(res.Damaged, one.Damaged...)
		}
		if rerr != nil {
			err = rerr
			if one == nil {
				res = nil
				break
			}
		}
	}
	p.done()
	if res == nil {
		return err
	}
	sum := verifySummary{MessageType: "summary", SnapshotID: snap.ID.String(), Files: res.Files, Bytes: res.Bytes,
		Differences: []verifyMismatch{}, Damaged: append([]string{}, res.Damaged...), DurationSeconds: time.Since(start).Seconds()}
	for _, d := range res.Differences {
		sum.Differences = append(sum.Differences, verifyMismatch{Path: d.Path, What: d.What})
	}
	if a.v.GetBool("json") {
		if werr := writeJSON(a.stdout, sum); werr != nil {
			return werr
		}
	} else {
		for _, d := range sum.Differences {
			fmt.Fprintf(a.stdout, "differs: %s: %s\n", printable(d.Path), printable(d.What))
		}
		for _, path := range sum.Damaged {
			fmt.Fprintf(a.stdout, "damaged: %s\n", printable(path))
		}
		if !a.v.GetBool("quiet") {
			fmt.Fprintf(a.stdout, "Verified %d files, %s of snapshot %s in %s: %d difference(s), %d damaged\n",
				res.Files, formatBytes(res.Bytes), snap.ID.Short(), formatDuration(time.Since(start)), len(sum.Differences), len(sum.Damaged))
		}
	}
	if err != nil {
		return err
	}
	if len(sum.Differences) > 0 || len(sum.Damaged) > 0 {
		return &differencesError{differences: len(sum.Differences), damaged: len(sum.Damaged)}
	}
	return nil
}

// verifyRun is one comparison: the live path Against with the snapshot
// subtree Base ("" = the snapshot's only path, or its root).
type verifyRun struct{ Against, Base string }

// verifyRuns decides what each --against path is compared with. A path
// equal to or inside one of the snapshot's paths is compared with the same
// path of the snapshot; any other path is a relocated copy of a
// single-path snapshot. Without --against, one run reads everything.
func verifyRuns(paths, against []string) ([]verifyRun, error) {
	if len(against) == 0 {
		return []verifyRun{{}}, nil
	}
	runs := make([]verifyRun, 0, len(against))
	for _, p := range against {
		base := ""
		for _, sp := range paths {
			sp = filepath.Clean(sp)
			if rel, err := filepath.Rel(sp, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				base = p
				break
			}
		}
		if base == "" && len(paths) != 1 {
			return nil, fmt.Errorf("--against %s is not inside any of the snapshot's paths (%s); give one of them or a directory inside one",
				printable(p), printable(strings.Join(paths, ", ")))
		}
		runs = append(runs, verifyRun{Against: p, Base: base})
	}
	return runs, nil
}
