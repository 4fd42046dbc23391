package repo

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// LeaseRun is one run (a backup or a prune) as its lease objects show it.
type LeaseRun struct {
	// Record is the run's newest lease.
	Record LeaseRecord
	// Newest is the server's modification time of that lease.
	Newest time.Time
	// Done is set when any of its leases is a done lease.
	Done bool
	// Live is set when the run may still add data: not done, and its
	// newest lease younger than the lease lifetime.
	Live bool
	// Objects are its lease objects, not-done ones first.
	Objects []crypto.ID
}

// leaseRuns lists and loads every lease and groups them by run. now is the
// server time to judge liveness by: the modification time of lease object
// self when it is listed (our own lease, just written; found reports it,
// and it is not loaded, so its run is left out), else the client's clock. Leases that cannot be read are left out (prune keeps its own,
// stricter, view of those).
func (r *Repository) leaseRuns(ctx context.Context, self crypto.ID) (map[string]*LeaseRun, bool, error) {
	var infos []storage.ObjectInfo
	err := r.store.List(ctx, "leases/", func(oi storage.ObjectInfo) error {
		if _, ok := parseName("leases/", oi.Name); ok {
			infos = append(infos, oi)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	now, found := r.now(), false
	for _, oi := range infos {
		if id, _ := parseName("leases/", oi.Name); id == self && !self.IsZero() {
			now, found = oi.ModTime, true
		}
	}
	type loaded struct {
		id  crypto.ID
		mod time.Time
		rec LeaseRecord
	}
	var (
		mu  sync.Mutex
		all []loaded
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Connections)
	for _, oi := range infos {
		id, _ := parseName("leases/", oi.Name)
		if id == self && !self.IsZero() {
			continue // the caller's own run: only its server time is needed
		}
		g.Go(func() error {
			rec, err := r.LoadLease(gctx, id)
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				return nil // vanished (replaced by a newer lease) or unreadable
			}
			mu.Lock()
			all = append(all, loaded{id, oi.ModTime, rec})
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, false, err
	}
	runs := make(map[string]*LeaseRun)
	for _, o := range all {
		run := runs[o.rec.Run]
		if run == nil {
			run = &LeaseRun{}
			runs[o.rec.Run] = run
		}
		if o.mod.After(run.Newest) || run.Newest.IsZero() {
			run.Newest, run.Record = o.mod, o.rec
		}
		run.Done = run.Done || o.rec.Done
		if o.rec.Done {
			run.Objects = append(run.Objects, o.id)
		} else {
			run.Objects = append([]crypto.ID{o.id}, run.Objects...)
		}
	}
	for _, run := range runs {
		run.Live = !run.Done && now.Sub(run.Newest) < r.leaseLifetime
	}
	return runs, found, nil
}

// LeaseRuns returns every run that has a readable lease, judging liveness
// by the client's clock against the leases' server times.
func (r *Repository) LeaseRuns(ctx context.Context) ([]LeaseRun, error) {
	runs, _, err := r.leaseRuns(ctx, crypto.ID{})
	if err != nil {
		return nil, err
	}
	out := make([]LeaseRun, 0, len(runs))
	for _, run := range runs {
		out = append(out, *run)
	}
	slices.SortFunc(out, func(a, b LeaseRun) int { return a.Newest.Compare(b.Newest) })
	return out, nil
}

// LeaseCounts returns how many runs hold a live lease and how many have
// left leases behind that no longer count (done or expired), for cairn
// check to report; the next backup that may delete removes the latter.
func (r *Repository) LeaseCounts(ctx context.Context) (live, dead int, err error) {
	runs, _, err := r.leaseRuns(ctx, crypto.ID{})
	if err != nil {
		return 0, 0, err
	}
	for _, run := range runs {
		if run.Live {
			live++
		} else {
			dead++
		}
	}
	return live, dead, nil
}

// LeaseSummary counts the runs with leases: live ones, killed ones (no done
// lease, newest lease expired) and finished ones whose lease objects remain
// (append-only credentials cannot remove them). cairn check reports the
// first two.
func (r *Repository) LeaseSummary(ctx context.Context) (live, killed, finished int, err error) {
	runs, _, err := r.leaseRuns(ctx, crypto.ID{})
	if err != nil {
		return 0, 0, 0, err
	}
	for _, run := range runs {
		switch {
		case run.Live:
			live++
		case run.Done:
			finished++
		default:
			killed++
		}
	}
	return live, killed, finished, nil
}

// removeDeadLeases deletes the lease objects of runs other than l's that
// are no longer live, judged by the server time of l's done lease, so that
// leases/ does not grow with every killed run. Best effort: a permission
// error means append-only credentials, and any failure just leaves the
// leases for the next run or prune. A run's not-done leases go before its
// done one, so a crash in between never makes a finished run look live.
func (r *Repository) removeDeadLeases(ctx context.Context, l *Lease) {
	l.mu.Lock()
	self := l.current
	l.mu.Unlock()
	runs, found, err := r.leaseRuns(ctx, self)
	if err != nil || !found {
		return // without the server's time, a live lease could look dead
	}
	for run, lr := range runs {
		if run == l.record.Run || lr.Live {
			continue
		}
		for _, id := range lr.Objects {
			err := r.DeleteObject(ctx, KindLease, id)
			if errors.Is(err, storage.ErrPermission) {
				return
			}
		}
	}
}
