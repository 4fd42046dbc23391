package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	snapcopy "github.com/cairn-backup/cairn/pkg/copy"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

type tagOptions struct {
	filter snapshotFilter
	change snapcopy.TagChange
}

func newTagCommand(a *app) *cobra.Command {
	var o tagOptions
	cmd := &cobra.Command{
		Use:   "tag --add|--remove|--set TAG [SNAPSHOT...]",
		Short: "Add, remove or set the tags of snapshots",
		Long: `Change the tags of the snapshots given by ID (or "latest"), or of every
snapshot --host, --tag and --path select. --set replaces the tags (an
empty --set "" removes them all), then --add adds and --remove removes.

Snapshots are never rewritten, so as with restic tag each changed snapshot
is saved anew with the new tags, recording the old one's ID as its
"original" (or the original the old one recorded), and then the old one is
forgotten. Its data is the same, so nothing is uploaded and restores are
unchanged. Forgetting needs credentials that may delete. Snapshots whose
tags would not change are left alone. Without IDs and without a filter,
tag refuses to change every snapshot.`,
		Example: `  cairn tag --add keep 3f2a91c0
  cairn tag --remove nightly --host laptop
  cairn tag --set release --set v2 latest`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.change.SetGiven = cmd.Flags().Changed("set")
			return a.runTag(cmd.Context(), args, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.change.Add, "add", nil, "add this `TAG` (repeatable; \"a,b\" adds both)")
	f.StringArrayVar(&o.change.Remove, "remove", nil, "remove this `TAG` (repeatable; \"a,b\" removes both)")
	f.StringArrayVar(&o.change.Set, "set", nil, "replace the tags with this `TAG` (repeatable; \"\" for none)")
	o.filter.addFlags(f)
	return cmd
}

// splitTags splits "a,b" arguments, as restic does.
func splitTags(in []string) []string {
	var out []string
	for _, t := range in {
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (a *app) runTag(ctx context.Context, refs []string, o tagOptions) error {
	c := o.change
	c.Add, c.Remove, c.Set = splitTags(c.Add), splitTags(c.Remove), splitTags(c.Set)
	if !c.SetGiven && len(c.Add) == 0 && len(c.Remove) == 0 {
		return fmt.Errorf("tag: %w", snapcopy.ErrNoTagChange)
	}
	filter, err := o.filter.filter()
	if err != nil {
		return err
	}
	noFilter := len(filter.Hosts)+len(filter.Tags)+len(filter.Paths) == 0
	if len(refs) == 0 && noFilter {
		return errors.New("tag: refusing to change every snapshot: give snapshot IDs, or --host, --tag or --path to select them")
	}
	return a.withRepository(ctx, func(r *repo.Repository) error {
		var entries []snapshot.Entry
		if len(refs) > 0 {
			for _, ref := range refs {
				e, err := snapshot.Find(ctx, r, ref, filter)
				if err != nil {
					return fmt.Errorf("tag: %w", err)
				}
				if !slices.ContainsFunc(entries, func(o snapshot.Entry) bool { return o.ID == e.ID }) {
					entries = append(entries, e)
				}
			}
		} else {
			all, err := snapshot.List(ctx, r)
			if err != nil {
				return err
			}
			a.watchSnapshots(ctx, r, all)
			for _, e := range all {
				if filter.Match(e.Snapshot) {
					entries = append(entries, e)
				}
			}
		}
		done, err := snapcopy.Retag(ctx, r, entries, c)
		if a.v.GetBool("json") {
			out := []map[string]any{}
			for _, d := range done {
				out = append(out, map[string]any{"old": d.Old.String(), "new": d.New.String(), "tags": append([]string{}, d.Tags...)})
			}
			if jerr := writeJSON(a.stdout, out); jerr != nil && err == nil {
				err = jerr
			}
			return err
		}
		if !a.v.GetBool("quiet") {
			for _, d := range done {
				fmt.Fprintf(a.stdout, "snapshot %s replaced by %s, tags: %s\n", d.Old.Short(), d.New.Short(), printable(strings.Join(d.Tags, ",")))
			}
			fmt.Fprintf(a.stdout, "Changed the tags of %d of %d snapshot(s)\n", len(done), len(entries))
		}
		return err
	})
}
