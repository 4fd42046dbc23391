package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/repo"
)

type repairObjectsOptions struct {
	dryRun bool
}

// newRepairObjectsCommand is `cairn repair objects`: on a versioned
// bucket, make the genuine version of every overwritten or deleted object
// current again.
func newRepairObjectsCommand(a *app) *cobra.Command {
	var o repairObjectsOptions
	cmd := &cobra.Command{
		Use:   "objects [--dry-run]",
		Short: "Bring back overwritten or deleted objects from older versions (versioned buckets)",
		Long: `On a bucket with versioning on, an object that a backup credential
overwrote or deleted is still stored as an older version. Every object name
but config is the SHA-256 of its bytes, so the genuine version is proven by
its hash, whoever wrote the others.

repair objects lists every version, finds each object whose current version
is not genuine (overwritten, or hidden behind a delete marker) that a
snapshot, an index object or a key needs, and copies the genuine version
back on top, inside the bucket. Leases and deletion markers that were
deleted stay deleted. When the repository does not open because its config
or key files were hidden or overwritten, it first brings back the config
and the one key file that your passphrase opens. Run it with the owner's credentials: it needs to
replace objects, which a backup credential must not be allowed to do.

Until versioning records forget and key remove, a snapshot or key file
deleted by cairn forget or cairn key remove counts as deleted by someone
else and is brought back; check the --dry-run list first.

Objects without a genuine version (versions deleted or expired) are listed
and make the exit status non-zero.`,
		Example: `  cairn repair objects --dry-run
  cairn repair objects`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRepairObjects(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "list what would be restored, change nothing")
	return cmd
}

// repairObjectsSummary is the --json output of repair objects.
type repairObjectsSummary struct {
	MessageType   string               `json:"message_type"` // "summary"
	DryRun        bool                 `json:"dry_run"`
	Versioning    bool                 `json:"versioning"`
	Objects       int                  `json:"objects"`
	Restored      []repairObjectsEntry `json:"restored"`
	Unrecoverable []repairObjectsEntry `json:"unrecoverable"`
}

type repairObjectsEntry struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	State   string `json:"state"`
	Version string `json:"version,omitempty"`
}

func entryOf(d repo.VersionDamage) repairObjectsEntry {
	return repairObjectsEntry{Name: d.Name, Kind: d.Kind, State: d.State.String(), Version: d.Genuine}
}

func (a *app) runRepairObjects(ctx context.Context, o repairObjectsOptions) error {
	jsonOut := a.v.GetBool("json")
	sum := repairObjectsSummary{MessageType: "summary", DryRun: o.dryRun, Restored: []repairObjectsEntry{}, Unrecoverable: []repairObjectsEntry{}}
	verb := "restored"
	if o.dryRun {
		verb = "would restore"
	}
	report := func(d repo.VersionDamage) {
		sum.Restored = append(sum.Restored, entryOf(d))
		if !jsonOut {
			fmt.Fprintf(a.stdout, "%s %s (%s, %s): version %s\n", verb, d.Name, d.Kind, d.State, d.Genuine)
		}
	}
	r, s, done, err := a.openForRepair(ctx, o.dryRun, report)
	if err != nil {
		return err
	}
	if r == nil { // a dry run that must restore access before it can scan
		if jsonOut {
			return writeJSON(a.stdout, sum)
		}
		fmt.Fprintln(a.stdout, "the repository opens only after these are restored; run without --dry-run to restore them and scan the rest")
		return nil
	}
	defer done()
	rep, err := r.RepairObjects(ctx, repo.VersionScanOptions{}, o.dryRun, report)
	if errors.Is(err, repo.ErrNoVersions) {
		return fmt.Errorf("repair objects: %s: %w; see the README's \"Append-only backups\"", s.location(), err)
	}
	if err != nil {
		return fmt.Errorf("repair objects: %w", err)
	}
	sum.Versioning, sum.Objects = rep.Versioning, rep.Objects
	for _, d := range rep.Problems() {
		if !d.Restorable() {
			sum.Unrecoverable = append(sum.Unrecoverable, entryOf(d))
		}
	}
	switch {
	case rep.VersioningErr != nil:
		fmt.Fprintf(a.stderr, "warning: could not tell whether versioning is on for %s: %v\n", s.location(), rep.VersioningErr)
	case !rep.Versioning:
		fmt.Fprintf(a.stderr, "warning: versioning is not on for %s: an overwrite or deletion from now on cannot be undone\n", s.location())
	}
	if jsonOut {
		if err := writeJSON(a.stdout, sum); err != nil {
			return err
		}
	} else {
		for _, e := range sum.Unrecoverable {
			fmt.Fprintf(a.stdout, "cannot restore %s (%s, %s): no stored version matches its name\n", e.Name, e.Kind, e.State)
		}
		if !a.v.GetBool("quiet") {
			fmt.Fprintf(a.stdout, "%d objects scanned, %d %s, %d cannot be restored\n",
				rep.Objects, len(sum.Restored), verb, len(sum.Unrecoverable))
		}
	}
	if len(sum.Unrecoverable) > 0 {
		return fmt.Errorf("repair objects: %d objects have no genuine version left; run cairn check, and cairn repair index if packs are lost", len(sum.Unrecoverable))
	}
	return nil
}

// openForRepair opens the repository like openRepository; when that fails
// on a versioned store (config or key files hidden or overwritten), it
// first brings back the config and the key file the passphrase opens
// (repo.RecoverAccess), reporting each. A dry run that would need to
// returns a nil Repository.
func (a *app) openForRepair(ctx context.Context, dryRun bool, report func(repo.VersionDamage)) (*repo.Repository, *settings, func(), error) {
	s, err := a.resolveFor("")
	if err != nil {
		return nil, nil, nil, err
	}
	store, release, err := openStore(ctx, s)
	if err != nil {
		return nil, nil, nil, err
	}
	pw, err := a.passphrase(ctx, s, false)
	if err != nil {
		release()
		return nil, nil, nil, err
	}
	opts, err := a.openOptions(s)
	if err != nil {
		release()
		return nil, nil, nil, err
	}
	r, err := repo.Open(ctx, store, pw, opts)
	if err != nil && ctx.Err() == nil {
		access, aerr := repo.RecoverAccess(ctx, store, pw, dryRun)
		if aerr == nil && len(access.Restored) > 0 {
			for _, d := range access.Restored {
				report(d)
			}
			if dryRun {
				release()
				return nil, s, nil, nil
			}
			r, err = repo.Open(ctx, store, pw, opts)
		}
	}
	if err != nil {
		release()
		return nil, nil, nil, fmt.Errorf("open repository %s: %w", s.location(), err)
	}
	return r, s, func() { _ = r.Close(); release() }, nil
}
