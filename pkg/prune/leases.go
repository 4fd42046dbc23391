package prune

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// leaseObject is one stored lease.
type leaseObject struct {
	id      crypto.ID
	modTime time.Time // server time
	done    bool
}

// leaseRun gathers the lease objects of one run (one backup or prune).
type leaseRun struct {
	record  repo.LeaseRecord // of the newest lease
	newest  time.Time
	done    bool
	seen    map[crypto.ID]bool // markers any of its leases lists
	objects []leaseObject
}

// leaseState is the lease directory as listed at one moment.
type leaseState struct {
	now  time.Time // server time of our own newest lease
	ttl  time.Duration
	runs map[string]*leaseRun
	// unreadable are leases that failed to load; a young one blocks every
	// marker, since we cannot tell what it has seen.
	unreadable []leaseObject
	// host is this machine (Options.Host) and alive tells whether a
	// process of it exists: a run of this host whose process is gone is
	// over, however young its lease.
	host  string
	alive func(pid int) bool
}

// leaseListings bounds how often leases lists leases/ again because a
// listed lease vanished before it could be read.
const leaseListings = 4

// leases lists and loads every lease. It fails if our own run's lease is
// not listed, since then the server's "now" is unknown.
//
// A listed lease that is gone when read was replaced by its run: a renewal
// or the end writes the new lease and then deletes the old one. The new
// one may not be in this listing, so the run could look absent although
// it is live and has not seen a marker; leases lists again until a listing
// reads whole. When listings keep racing, the vanished leases count as
// unreadable, which blocks every marker while they are young.
func (p *pruner) leases(ctx context.Context) (*leaseState, error) {
	for attempt := 1; ; attempt++ {
		st, vanished, err := p.listLeases(ctx)
		if err != nil {
			return nil, err
		}
		if len(vanished) > 0 && attempt < leaseListings {
			continue
		}
		st.unreadable = append(st.unreadable, vanished...)
		if p.run == "" {
			return st, nil
		}
		own := st.runs[p.run]
		if own == nil {
			return nil, fmt.Errorf("prune: its own lease is missing from leases/ (does the storage list new objects at once?)")
		}
		st.now = own.newest
		return st, nil
	}
}

// listLeases lists leases/ once and loads what it lists; vanished are the
// listed leases that were gone when read.
func (p *pruner) listLeases(ctx context.Context) (*leaseState, []leaseObject, error) {
	infos, err := p.r.ListObjectInfos(ctx, repo.KindLease)
	if err != nil {
		return nil, nil, fmt.Errorf("prune: %w", err)
	}
	st := &leaseState{ttl: p.opts.LeaseTTL, runs: make(map[string]*leaseRun), host: p.opts.Host, alive: p.opts.ProcessAlive}
	var vanished []leaseObject
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Connections)
	for _, oi := range infos {
		g.Go(func() error {
			rec, err := p.r.LoadLease(gctx, oi.ID)
			if gctx.Err() != nil {
				return gctx.Err()
			}
			mu.Lock()
			defer mu.Unlock()
			obj := leaseObject{id: oi.ID, modTime: oi.ModTime, done: err == nil && rec.Done}
			switch {
			case errors.Is(err, storage.ErrNotFound):
				vanished = append(vanished, obj)
			case err != nil:
				st.unreadable = append(st.unreadable, obj)
			default:
				st.add(rec, obj)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return st, vanished, nil
}

func (st *leaseState) add(rec repo.LeaseRecord, obj leaseObject) {
	r := st.runs[rec.Run]
	if r == nil {
		r = &leaseRun{seen: make(map[crypto.ID]bool)}
		st.runs[rec.Run] = r
	}
	r.objects = append(r.objects, obj)
	if obj.modTime.After(r.newest) || r.newest.IsZero() {
		r.newest, r.record = obj.modTime, rec
	}
	r.done = r.done || rec.Done
	for _, s := range rec.SeenDeletions {
		if id, err := crypto.ParseID(s); err == nil {
			r.seen[id] = true
		}
	}
}

// live reports whether a run may still add data.
func (st *leaseState) live(r *leaseRun) bool {
	return !r.done && st.now.Sub(r.newest) < st.ttl && !st.dead(r)
}

// dead reports whether r ran on this host in a process that no longer
// exists (killed, or crashed before ending its lease).
func (st *leaseState) dead(r *leaseRun) bool {
	return st.host != "" && r.record.Host == st.host && !st.alive(r.record.PID)
}

// blockers describes the live runs (other than self) that do not list
// marker: they may use the marker's packs, so it must wait for them.
func (st *leaseState) blockers(marker crypto.ID, self string) []string {
	var out []string
	for run, r := range st.runs {
		if run == self || !st.live(r) || r.seen[marker] {
			continue
		}
		rec := r.record
		out = append(out, fmt.Sprintf("%s run %.8s on host %s (pid %d, started %s, lease renewed %v ago)",
			rec.Operation, run, rec.Host, rec.PID, rec.Started.UTC().Format(time.RFC3339), st.now.Sub(r.newest).Round(time.Second)))
	}
	for _, u := range st.unreadable {
		if st.now.Sub(u.modTime) < st.ttl {
			out = append(out, fmt.Sprintf("unreadable lease %s", u.id.Short()))
		}
	}
	slices.Sort(out)
	return out
}

// removeOldLeases deletes the lease objects of runs that are done or
// expired, so leases/ does not grow with every backup. A run's older,
// not-done leases go before its done one, so a crash in between never makes
// a finished run look live again.
func (p *pruner) removeOldLeases(ctx context.Context) error {
	st, err := p.leases(ctx)
	if err != nil {
		return err
	}
	var doomed []leaseObject
	for run, r := range st.runs {
		if run == p.run || st.live(r) {
			continue
		}
		objs := slices.Clone(r.objects)
		slices.SortStableFunc(objs, func(a, b leaseObject) int {
			switch {
			case a.done == b.done:
				return 0
			case a.done:
				return 1
			}
			return -1
		})
		doomed = append(doomed, objs...)
	}
	for _, u := range st.unreadable {
		if st.now.Sub(u.modTime) >= st.ttl {
			doomed = append(doomed, u)
		}
	}
	for _, obj := range doomed {
		if err := p.r.DeleteObject(ctx, repo.KindLease, obj.id); err != nil {
			return deleteErr(repo.ObjectName(repo.KindLease, obj.id), err)
		}
		p.stats.LeasesRemoved++
	}
	return nil
}
