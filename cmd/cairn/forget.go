package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/forget"
	"github.com/cairn-backup/cairn/pkg/prune"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
)

type forgetOptions struct {
	filter  snapshotFilter
	keep    keepPolicy // the same rules as a job's keep section
	groupBy string
	dryRun  bool
	prune   bool
}

func newForgetCommand(a *app) *cobra.Command {
	var o forgetOptions
	cmd := &cobra.Command{
		Use:   "forget [ID...] [--keep-* N]...",
		Short: "Remove snapshots, by ID or by a retention policy",
		Long: `Remove snapshots. Their data stays in the repository until cairn prune
(or --prune) finds it unused.

With IDs (full or unique prefixes), remove those snapshots. Otherwise apply
the keep policy given by the --keep-* options to each group of snapshots
(--group-by; by default the snapshots of one host with one set of paths)
selected by --host, --tag and --path, and remove the snapshots no rule
keeps. Every snapshot is listed with the rules that keep it. A count of -1
means unlimited. With no IDs and no keep rule, forget refuses to run:
forgetting everything is never the default.

--keep-within takes 30d, 2w, 1y6m or 36h (y = 365 days, m = 30 days, as
restic), or a Go duration such as 1h30m. It keeps the snapshots newer than
the group's newest snapshot minus that duration.

Deleting needs credentials that may delete: with append-only credentials,
run forget from a machine that has a privileged credential.

With --json, print one JSON object: the groups with each snapshot's verdict
and reasons, the kept and removed IDs, and with --prune the prune statistics.`,
		Example: `  cairn forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  cairn forget --keep-last 3 --keep-tag release --host laptop --prune
  cairn forget --keep-within 30d --group-by host
  cairn forget 3f2a91c0 7b01e4d2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runForget(cmd.Context(), args, o)
		},
	}
	f := cmd.Flags()
	o.filter.addFlags(f)
	f.IntVar(&o.keep.Last, "keep-last", 0, "keep the `N` newest snapshots")
	f.IntVar(&o.keep.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last `N` hours that have one")
	f.IntVar(&o.keep.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last `N` days that have one")
	f.IntVar(&o.keep.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last `N` ISO weeks that have one")
	f.IntVar(&o.keep.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last `N` months that have one")
	f.IntVar(&o.keep.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last `N` years that have one")
	f.StringVar(&o.keep.Within, "keep-within", "", "keep the snapshots within this `DURATION` of the group's newest, e.g. 30d, 2w, 1y6m")
	f.StringArrayVar(&o.keep.Tags, "keep-tag", nil, "keep the snapshots with this `TAG`; \"a,b\" needs both (repeatable)")
	f.StringVar(&o.groupBy, "group-by", forget.DefaultGroupBy, "apply the policy to each group of snapshots sharing these `FIELDS` (host, paths, tags; \"\" for one group)")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "print what would be removed, remove nothing")
	f.BoolVar(&o.prune, "prune", false, "run cairn prune afterwards, freeing the data only the removed snapshots used")
	return cmd
}

// forgetGroup is one group of snapshots with the policy's verdict on each.
type forgetGroup struct {
	forget.Group
	Decisions []forget.Decision // newest first
}

// planForget applies policy p to the snapshots of all that pass filter,
// group by group (forget.GroupBy). It reads and deletes nothing, so a dry
// run and a real one decide alike; cairn run's forget step uses it too.
func planForget(all []snapshot.Entry, filter snapshot.Filter, groupBy string, p forget.Policy, now time.Time) ([]forgetGroup, error) {
	var selected []snapshot.Entry
	for _, e := range all {
		if filter.Match(e.Snapshot) {
			selected = append(selected, e)
		}
	}
	groups, err := forget.GroupBy(selected, groupBy)
	if err != nil {
		return nil, fmt.Errorf("forget: --group-by %q: %w", groupBy, err)
	}
	out := make([]forgetGroup, 0, len(groups))
	for _, g := range groups {
		ds, err := forget.Apply(g.Snapshots, p, now)
		if err != nil {
			return nil, fmt.Errorf("forget: %w", err)
		}
		out = append(out, forgetGroup{Group: g, Decisions: ds})
	}
	return out, nil
}

// decided returns the IDs the groups keep and remove.
func decided(groups []forgetGroup) (kept, removed []crypto.ID) {
	for _, g := range groups {
		kept = append(kept, forget.Kept(g.Decisions)...)
		removed = append(removed, forget.Removed(g.Decisions)...)
	}
	return kept, removed
}

// forgetSnapshots deletes the snapshot objects ids. Append-only
// credentials are the usual reason a delete is refused, and the fix is to
// run forget elsewhere, so that is what the error says.
func forgetSnapshots(ctx context.Context, r prune.SnapshotDeleter, ids []crypto.ID) error {
	err := prune.Forget(ctx, r, ids)
	if errors.Is(err, storage.ErrPermission) {
		return fmt.Errorf("%w; these credentials cannot delete (append-only), so they cannot forget snapshots: "+
			"run cairn forget from a machine with a privileged credential", err)
	}
	return err
}

// forgetResult is the data of a forget: the snapshots kept and removed.
// It is also the forget step's data in cairn run's summary.
type forgetResult struct {
	Kept    []string `json:"kept"`
	Removed []string `json:"removed"`
}

// forgetSummary is the --json output of forget (after prune's status
// lines with --prune).
type forgetSummary struct {
	MessageType string            `json:"message_type"` // "summary"
	DryRun      bool              `json:"dry_run"`
	Groups      []forgetGroupJSON `json:"groups"` // empty when forgetting by ID
	forgetResult
	Prune *prune.Stats `json:"prune,omitempty"`
}

type forgetGroupJSON struct {
	Key       string               `json:"key"`
	Host      string               `json:"host,omitempty"`
	Paths     []string             `json:"paths,omitempty"`
	Tags      []string             `json:"tags,omitempty"`
	Snapshots []forgetDecisionJSON `json:"snapshots"`
}

type forgetDecisionJSON struct {
	ID      string    `json:"id"`
	ShortID string    `json:"short_id"`
	Time    time.Time `json:"time"`
	Host    string    `json:"host"`
	Paths   []string  `json:"paths"`
	Tags    []string  `json:"tags,omitempty"`
	Keep    bool      `json:"keep"`
	Reasons []string  `json:"reasons"`
}

func (a *app) runForget(ctx context.Context, refs []string, o forgetOptions) error {
	var policy forget.Policy
	switch {
	case len(refs) > 0 && !o.keep.empty():
		return errors.New("forget: give snapshot IDs or --keep-* rules, not both")
	case len(refs) == 0 && o.keep.empty():
		return errors.New("forget: refusing to forget every snapshot: give snapshot IDs, or at least one keep rule " +
			"(--keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within, --keep-tag)")
	case len(refs) == 0:
		var err error
		if policy, err = o.keep.policy(); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
	}
	filter, err := o.filter.filter()
	if err != nil {
		return err
	}
	r, _, done, err := a.openRepository(ctx)
	if err != nil {
		return err
	}
	defer done()

	var plan forgetPlan
	if len(refs) > 0 {
		err = plan.byIDs(ctx, r, refs, filter)
	} else {
		err = plan.byPolicy(ctx, r, filter, o.groupBy, policy)
		if err == nil {
			a.watchSnapshots(ctx, r, plan.listed)
		}
	}
	if err != nil {
		return err
	}
	jsonOut := a.v.GetBool("json")
	talk := !jsonOut && !a.v.GetBool("quiet")
	if !jsonOut {
		if err := plan.print(a.stdout, o.dryRun); err != nil {
			return err
		}
	}
	if !o.dryRun {
		if err := forgetSnapshots(ctx, r, plan.removed); err != nil {
			if ctx.Err() != nil {
				return &interruptedError{err: err, msg: fmt.Sprintf("forget interrupted while removing %d snapshot(s): some may be removed already, the others are still there, and no data was deleted. "+
					"Run the same command again to finish: it removes the rest", len(plan.removed))}
			}
			return err
		}
	}
	if talk {
		fmt.Fprintln(a.stdout, plan.outcome(o.dryRun))
	}
	sum := plan.summary(o.dryRun)
	switch {
	case o.prune && o.dryRun:
		if talk {
			fmt.Fprintln(a.stdout, "Dry run: prune skipped")
		}
	case o.prune:
		start := time.Now()
		stats, err := a.prune(ctx, r, prune.Options{})
		var own *interruptedError
		if err != nil && ctx.Err() != nil && errors.As(err, &own) {
			return &interruptedError{err: err, msg: fmt.Sprintf("forget removed %d snapshot(s); then %s (cairn prune does the same)", len(plan.removed), own.msg)}
		}
		if err != nil {
			return fmt.Errorf("forget: snapshots removed, but prune failed: %w", err)
		}
		sum.Prune = stats
		if talk {
			printPruneStats(a.stdout, stats, false, time.Since(start))
		}
	}
	if jsonOut {
		return writeJSON(a.stdout, sum)
	}
	return nil
}

// forgetPlan is what a forget removes: the snapshots named by ID, or the
// verdicts of a policy on each group.
type forgetPlan struct {
	byID          []snapshot.Entry // when forgetting by ID
	groups        []forgetGroup    // when applying a policy
	policy        bool
	kept, removed []crypto.ID
	listed        []snapshot.Entry // the complete listing a policy was applied to
}

// byIDs plans to remove the snapshots refs name (each once). A snapshot
// object that is damaged or does not decode can still be removed by its
// ID (not by "latest", and only without a filter, which it cannot match):
// its entry has no Snapshot.
func (p *forgetPlan) byIDs(ctx context.Context, r *repo.Repository, refs []string, filter snapshot.Filter) error {
	for _, ref := range refs {
		e, err := snapshot.Find(ctx, r, ref, filter)
		noFilter := len(filter.Hosts)+len(filter.Tags)+len(filter.Paths) == 0
		if err != nil && ref != "latest" && noFilter && snapshot.IsUnreadable(r, err) {
			id, rerr := snapshot.ResolveID(ctx, r, ref)
			if rerr != nil {
				return fmt.Errorf("forget: %w", rerr)
			}
			e, err = snapshot.Entry{ID: id}, nil
		}
		if err != nil {
			return fmt.Errorf("forget: %w", err)
		}
		if !slices.Contains(p.removed, e.ID) {
			p.byID = append(p.byID, e)
			p.removed = append(p.removed, e.ID)
		}
	}
	return nil
}

// byPolicy plans to remove what policy does not keep.
func (p *forgetPlan) byPolicy(ctx context.Context, r *repo.Repository, filter snapshot.Filter, groupBy string, policy forget.Policy) error {
	all, err := snapshot.List(ctx, r)
	if err != nil {
		return err
	}
	p.listed = all
	if p.groups, err = planForget(all, filter, groupBy, policy, time.Now()); err != nil {
		return err
	}
	p.policy = true
	p.kept, p.removed = decided(p.groups)
	return nil
}

// print lists the snapshots and what happens to them.
func (p *forgetPlan) print(w io.Writer, dryRun bool) error {
	if p.policy {
		return printForgetGroups(w, p.groups)
	}
	return printForgetIDs(w, p.byID, dryRun)
}

// outcome is the closing line for people.
func (p *forgetPlan) outcome(dryRun bool) string {
	if !dryRun && p.policy {
		return fmt.Sprintf("Removed %d snapshot(s), kept %d", len(p.removed), len(p.kept))
	}
	if !dryRun {
		return fmt.Sprintf("Removed %d snapshot(s)", len(p.removed))
	}
	line := fmt.Sprintf("Dry run: would remove %d snapshot(s)", len(p.removed))
	if p.policy {
		line += fmt.Sprintf(", keep %d", len(p.kept))
	}
	return line + "; nothing was removed"
}

func (p *forgetPlan) summary(dryRun bool) forgetSummary {
	return forgetSummary{
		MessageType:  "summary",
		DryRun:       dryRun,
		Groups:       forgetGroupsJSON(p.groups),
		forgetResult: forgetResult{Kept: hexIDs(p.kept), Removed: hexIDs(p.removed)},
	}
}

func forgetGroupsJSON(groups []forgetGroup) []forgetGroupJSON {
	out := make([]forgetGroupJSON, 0, len(groups))
	for _, g := range groups {
		gj := forgetGroupJSON{Key: g.Key, Host: g.Host, Paths: g.Paths, Tags: g.Tags, Snapshots: []forgetDecisionJSON{}}
		for _, d := range g.Decisions {
			s := d.Snapshot
			gj.Snapshots = append(gj.Snapshots, forgetDecisionJSON{
				ID: d.ID.String(), ShortID: d.ID.Short(), Time: s.Time, Host: s.Host, Paths: s.Paths, Tags: s.Tags,
				Keep: d.Keep, Reasons: append([]string{}, d.Reasons...),
			})
		}
		out = append(out, gj)
	}
	return out
}

// printForgetGroups lists each group's snapshots, newest first, with the
// verdict and the rules that decided it.
func printForgetGroups(w io.Writer, groups []forgetGroup) error {
	if len(groups) == 0 {
		_, err := fmt.Fprintln(w, "No snapshots match the filter")
		return err
	}
	for i, g := range groups {
		if i > 0 {
			fmt.Fprintln(w)
		}
		key := g.Key
		if key == "" {
			key = "all snapshots"
		}
		kept := len(forget.Kept(g.Decisions))
		fmt.Fprintf(w, "%s: keep %d, remove %d\n", printable(key), kept, len(g.Decisions)-kept)
		tw := newTable(w)
		fmt.Fprintln(tw, "  Action\tID\tTime\tTags\tReasons")
		for _, d := range g.Decisions {
			action, reasons := "remove", "-"
			if d.Keep {
				action, reasons = "keep", strings.Join(d.Reasons, ", ")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", action, d.ID.Short(), d.Snapshot.Time.Local().Format("2006-01-02 15:04:05"),
				printable(strings.Join(d.Snapshot.Tags, ",")), reasons)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// printForgetIDs lists the snapshots forgotten by ID.
func printForgetIDs(w io.Writer, entries []snapshot.Entry, dryRun bool) error {
	action := "remove"
	if dryRun {
		action = "would remove"
	}
	tw := newTable(w)
	for _, e := range entries {
		s := e.Snapshot
		if s == nil {
			fmt.Fprintf(tw, "%s\t%s\t(unreadable snapshot object)\t\t\n", action, e.ID.Short())
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", action, e.ID.Short(), s.Time.Local().Format("2006-01-02 15:04:05"),
			printable(s.Host), printable(strings.Join(s.Paths, ", ")))
	}
	return tw.Flush()
}
