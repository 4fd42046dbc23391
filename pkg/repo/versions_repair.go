package repo

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// repairOrder restores packs before the index objects that reference
// them, index objects before snapshots, and key files last, the order a
// backup writes in.
var repairOrder = map[string]int{KindPack: 0, KindIndex: 1, KindSnapshot: 2, KindKey: 3, KindLease: 4, KindDeletion: 4}

// RepairObjects scans versions (see ScanVersions) and makes the genuine
// version current again for every restorable problem, calling done after
// each, one call at a time (with dryRun it calls done for each and
// restores nothing). It needs the owner's credentials: RestoreVersion
// replaces the current version. It returns the report of its scan;
// problems without a genuine version are left as they were and are in the
// report.
func (r *Repository) RepairObjects(ctx context.Context, opts VersionScanOptions, dryRun bool, done func(VersionDamage)) (VersionReport, error) {
	rep, err := r.ScanVersions(ctx, opts)
	if err != nil {
		return rep, err
	}
	v, _ := storage.AsVersioner(r.store)
	var todo []VersionDamage
	for _, d := range rep.Damage {
		if d.Restorable() {
			todo = append(todo, d)
		}
	}
	slices.SortStableFunc(todo, func(a, b VersionDamage) int { return cmp.Compare(repairOrder[a.Kind], repairOrder[b.Kind]) })
	var mu sync.Mutex // serialises done
	for len(todo) > 0 {
		// One kind at a time, so that nothing is current before what it
		// references; within a kind, Connections restores at once.
		n := 1
		for n < len(todo) && repairOrder[todo[n].Kind] == repairOrder[todo[0].Kind] {
			n++
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.opts.Connections)
		for _, d := range todo[:n] {
			g.Go(func() error {
				if !dryRun {
					if err := v.RestoreVersion(gctx, d.Name, d.Genuine); err != nil {
						return fmt.Errorf("repair %s: %w", d.Name, err)
					}
				}
				if done != nil {
					mu.Lock()
					done(d)
					mu.Unlock()
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return rep, err
		}
		todo = todo[n:]
	}
	return rep, nil
}
