package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// snapshotFilter holds the --host, --tag and --path flags that select
// snapshots (and narrow "latest").
type snapshotFilter struct {
	hosts, tags, paths []string
}

func (f *snapshotFilter) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.hosts, "host", nil, "only snapshots of this host (repeatable)")
	fs.StringArrayVar(&f.tags, "tag", nil, "only snapshots with this tag (repeatable: all must match)")
	fs.StringArrayVar(&f.paths, "path", nil, "only snapshots of exactly these backup paths (repeatable)")
}

// filter returns the snapshot.Filter; relative paths are made absolute,
// as backup records them.
func (f *snapshotFilter) filter() (snapshot.Filter, error) {
	out := snapshot.Filter{Hosts: f.hosts, Tags: f.tags}
	for _, p := range f.paths {
		p, err := expandHome(p)
		if err == nil {
			p, err = filepath.Abs(p)
		}
		if err != nil {
			return out, fmt.Errorf("--path %s: %w", p, err)
		}
		out.Paths = append(out.Paths, p)
	}
	return out, nil
}

// findSnapshot resolves SNAPSHOT (an ID, a unique prefix, or latest
// narrowed by the filter).
func findSnapshot(ctx context.Context, o snapshot.ObjectStore, ref string, f *snapshotFilter) (snapshot.Entry, error) {
	filter, err := f.filter()
	if err != nil {
		return snapshot.Entry{}, err
	}
	return snapshot.Find(ctx, o, ref, filter)
}

func newSnapshotsCommand(a *app) *cobra.Command {
	var f snapshotFilter
	var latest int
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List snapshots",
		Long: `List the snapshots, oldest first: ID, local time, host, tags, paths and
the new data each backup added. With --json, print the full list as one JSON
array (each snapshot as stored, plus "id" and "short_id"). --latest N
shows only the newest N of each host and set of paths, as restic does.`,
		Example: `  cairn snapshots
  cairn snapshots --latest 1
  cairn snapshots --host laptop --tag nightly
  cairn snapshots --json | jq '.[-1].id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, entries, done, err := a.openSnapshots(ctx, &f)
			if err != nil {
				return err
			}
			defer done()
			if latest < 0 {
				return fmt.Errorf("--latest %d: give a positive number of snapshots, or leave it out for all", latest)
			}
			entries = newestPerGroup(entries, latest)
			if a.v.GetBool("json") {
				return printSnapshotsJSON(a, entries)
			}
			return printSnapshotsTable(a, entries)
		},
	}
	f.addFlags(cmd.Flags())
	cmd.Flags().IntVar(&latest, "latest", 0, "show only the newest N snapshots of each host and set of paths")
	return cmd
}

// newestPerGroup keeps, of entries (oldest first), the newest n of each
// host and set of paths, in the same order; n == 0 keeps all.
func newestPerGroup(entries []snapshot.Entry, n int) []snapshot.Entry {
	if n <= 0 {
		return entries
	}
	group := func(e snapshot.Entry) string {
		paths := slices.Clone(e.Snapshot.Paths)
		slices.Sort(paths)
		return e.Snapshot.Host + "\x00" + strings.Join(paths, "\x00")
	}
	seen := make(map[string]int)
	keep := make([]bool, len(entries))
	for i := len(entries) - 1; i >= 0; i-- {
		g := group(entries[i])
		if seen[g] < n {
			seen[g]++
			keep[i] = true
		}
	}
	out := entries[:0:0]
	for i, e := range entries {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out
}

// snapshotJSON renders a snapshot as stored, with its ID added.
func snapshotJSON(e snapshot.Entry) (map[string]any, error) {
	body, err := e.Snapshot.Marshal()
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	m["id"] = e.ID.String()
	m["short_id"] = e.ID.Short()
	return m, nil
}

func printSnapshotsJSON(a *app, entries []snapshot.Entry) error {
	out := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		m, err := snapshotJSON(e)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", e.ID.Short(), err)
		}
		out = append(out, m)
	}
	return writeJSON(a.stdout, out)
}

func printSnapshotsTable(a *app, entries []snapshot.Entry) error {
	tw := newTable(a.stdout)
	// "Added" is the new data the backup stored (after deduplication):
	// snapshots record no total size, and bytes read says little once a
	// parent snapshot spares the unchanged files.
	fmt.Fprintln(tw, "ID\tTime\tHost\tTags\tPaths\tAdded")
	for _, e := range entries {
		s := e.Snapshot
		paths := make([]string, len(s.Paths))
		for i, p := range s.Paths {
			paths[i] = printable(p)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID.Short(), s.Time.Local().Format("2006-01-02 15:04:05"),
			printable(s.Host), printable(strings.Join(s.Tags, ",")), strings.Join(paths, ", "), formatBytes(s.Summary.BytesAdded))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !a.v.GetBool("quiet") {
		fmt.Fprintf(a.stdout, "%d snapshot(s)\n", len(entries))
	}
	return nil
}
