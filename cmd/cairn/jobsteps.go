package main

import (
	"context"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/pkg/check"
	snapcopy "github.com/cairn-backup/cairn/pkg/copy"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/forget"
	"github.com/cairn-backup/cairn/pkg/prune"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// jobStep runs one maintenance step of a job after its backup. It returns
// a one-line description for people and a value for the JSON summary.
type jobStep func(ctx context.Context, r *repo.Repository, spec *jobSpec) (detail string, data any, err error)

// jobSteps lists the maintenance steps this build can run, by name. A
// step missing here fails any job that asks for it, with a message saying
// so: a job that silently skipped its prune would fill the repository
// unnoticed.
func (a *app) jobSteps() map[string]jobStep {
	return map[string]jobStep{
		"forget": a.forgetStep,
		"prune":  a.pruneStep,
		"check":  a.checkStep,
	}
}

// forgetStep applies the job's keep policy to the job's snapshots (its
// host, its set of paths, and its tags) and removes the others. Tags are
// part of it so that two jobs over the same paths (say daily and monthly)
// do not forget each other's snapshots.
func (a *app) forgetStep(ctx context.Context, r *repo.Repository, spec *jobSpec) (string, any, error) {
	policy, err := spec.job.Keep.policy()
	if err != nil {
		return "", nil, err
	}
	all, err := snapshot.List(ctx, r)
	if err != nil {
		return "", nil, err
	}
	a.watchSnapshots(ctx, r, all)
	// One group: the filter already narrows to the job's snapshots.
	mine := snapshot.Filter{Hosts: []string{spec.host}, Paths: spec.paths, Tags: spec.job.Tags}
	groups, err := planForget(all, mine, "", policy, time.Now())
	if err != nil {
		return "", nil, err
	}
	kept, removed := decided(groups)
	res := forgetResult{Kept: hexIDs(kept), Removed: hexIDs(removed)}
	if err := forgetSnapshots(ctx, r, removed); err != nil {
		return "", res, err
	}
	return fmt.Sprintf("kept %d, removed %d snapshot(s)", len(res.Kept), len(res.Removed)), res, nil
}

// policy converts the job's keep section.
func (k keepPolicy) policy() (forget.Policy, error) {
	p := forget.Policy{Last: k.Last, Hourly: k.Hourly, Daily: k.Daily, Weekly: k.Weekly,
		Monthly: k.Monthly, Yearly: k.Yearly, Tags: k.Tags}
	if k.Within != "" {
		d, err := parseAge(k.Within)
		if err != nil {
			return p, fmt.Errorf("keep within %w", err)
		}
		p.Within = d
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("keep: %w", err)
	}
	return p, nil
}

// pruneStep removes the data no snapshot needs any more (two-phase, safe
// with concurrent backups; see pkg/prune).
func (a *app) pruneStep(ctx context.Context, r *repo.Repository, spec *jobSpec) (string, any, error) {
	var opts prune.Options
	if age := spec.job.MinPackAge; age != "" {
		d, err := parseAge(age)
		if err != nil {
			return "", nil, fmt.Errorf("min-pack-age %w", err)
		}
		opts.MinPackAge = d
	}
	stats, err := a.prune(ctx, r, opts)
	if err != nil {
		return "", stats, err
	}
	return pruneDetail(stats), stats, nil
}

// maxCheckErrorsShown bounds the check errors printed on stderr.
const maxCheckErrorsShown = 20

// checkStep checks the repository, reading the job's subset of the data.
func (a *app) checkStep(ctx context.Context, r *repo.Repository, spec *jobSpec) (string, any, error) {
	subset := spec.job.Check.ReadDataSubset
	return a.checkWith(ctx, r, check.Options{ReadData: subset != "", Subset: subset})
}

// precheckStep is the structural check a job runs before it prunes: prune
// must not act on a repository whose index, packs or snapshots disagree.
func (a *app) precheckStep(ctx context.Context, r *repo.Repository) (string, any, error) {
	detail, data, err := a.checkWith(ctx, r, check.Options{})
	if err != nil {
		return "", data, fmt.Errorf("%w; prune was not run", err)
	}
	return "before prune: " + detail, data, nil
}

func (a *app) checkWith(ctx context.Context, r *repo.Repository, opts check.Options) (string, any, error) {
	rep, err := a.check(ctx, r, opts)
	if err != nil {
		return "", nil, err
	}
	res := newCheckResult(rep)
	if !res.OK {
		for i, e := range res.Errors {
			if i == maxCheckErrorsShown {
				fmt.Fprintf(a.stderr, "cairn: check: and %d more errors\n", len(res.Errors)-i)
				break
			}
			fmt.Fprintf(a.stderr, "cairn: check: %s\n", oneLine(e))
		}
		return "", res, fmt.Errorf("check found %d error(s) (listed above); run cairn check for the full report", len(res.Errors))
	}
	if err := res.failure("run cairn check for the full report"); err != nil {
		return "", res, err
	}
	return res.summary(), res, nil
}

func hexIDs(ids []crypto.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// copyToStep copies the job's new snapshot into the configured repository
// dest (copy-to), as cairn copy does: idempotent, deduplicated against
// dest, in its own write session there.
func (a *app) copyToStep(ctx context.Context, src *repo.Repository, dest, snapshotID string) (string, any, error) {
	dst, _, done, err := a.openNamedRepository(ctx, dest)
	if err != nil {
		return "", nil, fmt.Errorf("copy-to %s: %w", dest, err)
	}
	defer done()
	res, err := snapcopy.Copy(ctx, src, dst, snapcopy.Options{Refs: []string{snapshotID},
		Warn: func(err error) { fmt.Fprintf(a.stderr, "cairn: warning: copy-to %s: %s\n", dest, oneLine(err.Error())) }})
	if err != nil {
		return "", nil, fmt.Errorf("copy-to %s: %w", dest, err)
	}
	data := map[string]any{"repository": dest, "copied": len(res.Copied), "skipped": len(res.Skipped)}
	switch {
	case len(res.Copied) > 0:
		data["snapshot_id"] = res.Copied[0].Dest.String()
		return fmt.Sprintf("copied to %s as %s (%s new)", dest, res.Copied[0].Dest.Short(), formatBytes(uint64(res.Total.BytesStored))), data, nil
	default:
		return fmt.Sprintf("already in %s", dest), data, nil
	}
}
