package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// ReleaseDeadRuns ends the runs of this host and user (OpenOptions.Host and
// Username) that hold a lease without being done and whose process no
// longer exists, as alive(pid) tells: a killed backup or prune, whose
// leases would otherwise hold back every sweep for the lease lifetime. For
// each it writes a done lease of that run (create-only credentials suffice)
// and then removes the run's other lease objects where the credentials
// allow. It returns the runs it released.
//
// Host names are not unique across machines; the process check is only
// meaningful on the machine that ran the process, so alive must say true
// for any PID it cannot rule out (a permission error means the process
// exists).
func (r *Repository) ReleaseDeadRuns(ctx context.Context, alive func(pid int) bool) ([]LeaseRun, error) {
	runs, err := r.LeaseRuns(ctx)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	var released []LeaseRun
	for _, run := range runs {
		rec := run.Record
		if run.Done || rec.Host != r.opts.Host || rec.Username != r.opts.Username || rec.PID <= 0 || alive(rec.PID) {
			continue
		}
		rec.Done = true
		body, err := json.Marshal(rec)
		if err != nil {
			return released, err
		}
		if _, err := r.SaveObject(ctx, KindLease, body); err != nil {
			return released, fmt.Errorf("%w: write done lease for run %.8s (pid %d): %w", ErrLease, rec.Run, rec.PID, err)
		}
		for _, id := range run.Objects {
			if err := r.DeleteObject(ctx, KindLease, id); errors.Is(err, storage.ErrPermission) {
				break // append-only credentials: the done lease is enough
			}
		}
		run.Done, run.Live = true, false
		released = append(released, run)
	}
	return released, nil
}
