package main

import (
	"context"
	"fmt"
	"path"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/diff"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

func newFindCommand(a *app) *cobra.Command {
	var f snapshotFilter
	cmd := &cobra.Command{
		Use:   "find PATTERN",
		Short: "Find which snapshots hold a file",
		Long: `Search the snapshots (those selected by --host, --tag and --path; default
all) for entries matching PATTERN, and list them per snapshot with size and
modification time, oldest snapshot first.

PATTERN is a glob: '*' and '?' do not match '/', and [a-z] classes work. A
pattern without '/' matches base names at any depth ("*.pdf"); a pattern
with '/' matches the whole path from the snapshot root
("/home/*/Documents/*.pdf"). Quote it so the shell leaves it alone.

With --json, print one JSON object per match.`,
		Example: `  cairn find '*.pdf'
  cairn find '/home/alice/Documents/tax-2023.pdf' --host laptop
  cairn find 'id_*' --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runFind(cmd.Context(), args[0], &f)
		},
	}
	f.addFlags(cmd.Flags())
	return cmd
}

// findMatch is one --json line of find.
type findMatch struct {
	SnapshotID   string    `json:"snapshot_id"`
	SnapshotTime time.Time `json:"snapshot_time"`
	Host         string    `json:"host"`
	Path         string    `json:"path"`
	Type         string    `json:"type"`
	Size         uint64    `json:"size"`
	MTime        time.Time `json:"mtime"`
}

func (a *app) runFind(ctx context.Context, pattern string, f *snapshotFilter) error {
	// Before the passphrase prompt: path.Match checks the whole pattern.
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("find: pattern %q: %w; see cairn find --help", pattern, err)
	}
	r, snaps, done, err := a.openSnapshots(ctx, f)
	if err != nil {
		return err
	}
	defer done()
	hosts := map[crypto.ID]string{}
	for _, e := range snaps {
		hosts[e.ID] = e.Snapshot.Host
	}
	if err := r.LoadIndex(ctx); err != nil {
		return err
	}

	jsonOut := a.v.GetBool("json")
	var (
		matches, inSnaps int
		current          crypto.ID
		tw               *tabwriter.Writer
	)
	err = diff.Find(ctx, r, snaps, pattern, func(m diff.Match) error {
		matches++
		if jsonOut {
			return writeJSON(a.stdout, findMatch{m.Snapshot.String(), m.Time, hosts[m.Snapshot], m.Path,
				m.Type.String(), m.Size, m.MTime})
		}
		if tw == nil || m.Snapshot != current {
			if tw != nil {
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			current, inSnaps = m.Snapshot, inSnaps+1
			fmt.Fprintf(a.stdout, "snapshot %s (%s, %s):\n", m.Snapshot.Short(), m.Time.Local().Format("2006-01-02 15:04:05"),
				printable(hosts[m.Snapshot]))
			tw = newTable(a.stdout)
		}
		size, name := "-", printable(m.Path)
		switch m.Type {
		case snapshot.NodeFile:
			size = formatBytes(m.Size)
		case snapshot.NodeDir:
			name += "/"
		}
		_, err := fmt.Fprintf(tw, "  %s\t%s\t%s\n", size, m.MTime.Local().Format("2006-01-02 15:04:05"), name)
		return err
	})
	if err != nil {
		return fmt.Errorf("find: %w", err)
	}
	if tw != nil {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if !jsonOut && !a.v.GetBool("quiet") {
		fmt.Fprintf(a.stdout, "%d match(es) in %d of %d snapshot(s)\n", matches, inSnaps, len(snaps))
	}
	return nil
}
