package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/restorer"
)

type verifyOptions struct {
	filter  snapshotFilter
	against string
}

func newVerifyCommand(a *app) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify SNAPSHOT [--against PATH]",
		Short: "Read a snapshot back completely, optionally comparing it with the files",
		Long: `A restore drill: read every file of the snapshot back from the repository,
decrypt and check it, without writing anything. With --against, also
compare every entry's metadata and content with the files at PATH (which
corresponds to the snapshot's path when it has one, else to "/").

Differences and damaged files are listed on stdout, one per line, and make
the exit status non-zero.`,
		Example: `  cairn verify latest
  cairn verify latest --against ~/Documents
  cairn verify 3f2a91c0 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runVerify(cmd.Context(), args[0], o)
		},
	}
	o.filter.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&o.against, "against", "", "compare with the files at this path")
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
	against := ""
	if o.against != "" {
		p, err := expandHome(o.against)
		if err == nil {
			against, err = filepath.Abs(p)
		}
		if err != nil {
			return fmt.Errorf("verify: --against %s: %w", o.against, err)
		}
	}
	r, snap, done, err := a.openSnapshot(ctx, ref, &o.filter)
	if err != nil {
		return err
	}
	defer done()
	p := a.newProgress()
	defer p.done()
	start := time.Now()
	defer tuneGC()()
	res, err := restorer.Verify(ctx, r, snap.Snapshot, restorer.VerifyOptions{
		Against: against,
		Progress: func(s restorer.Progress) {
			p.update(func() string { return restoreLine("verified", s) }, func() any { return newRestoreStatus(s) }, false)
		},
	})
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
