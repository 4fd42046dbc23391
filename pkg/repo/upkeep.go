package repo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// StaleTempFiles counts the temporary files interrupted uploads left in
// the storage (a local directory after kill -9), for check to report. A
// store without temporary files reports none.
func (r *Repository) StaleTempFiles(ctx context.Context) (int, int64, error) {
	tc, ok := r.store.(storage.TempCleaner)
	if !ok {
		return 0, 0, nil
	}
	return tc.StaleTemps(ctx)
}

// RemoveStaleTemps removes temporary files of interrupted uploads older
// than olderThan (never younger: they may belong to a running upload), for
// prune.
func (r *Repository) RemoveStaleTemps(ctx context.Context, olderThan time.Duration) (int, int64, error) {
	tc, ok := r.store.(storage.TempCleaner)
	if !ok {
		return 0, 0, nil
	}
	return tc.RemoveStaleTemps(ctx, olderThan)
}

// RemovedOnPurpose returns a test, for ScanVersions, of whether a missing
// snapshot or key file was removed by forget or key remove (a forgotten
// record names it), from the forgotten records in the repository.
func (r *Repository) RemovedOnPurpose(ctx context.Context) (func(name string) bool, error) {
	fs, err := r.LoadForgotten(ctx)
	if err != nil {
		return nil, err
	}
	return func(name string) bool {
		dir, hex, ok := strings.Cut(name, "/")
		if !ok {
			return false
		}
		id, err := crypto.ParseID(hex)
		if err != nil {
			return false
		}
		switch dir {
		case kindDirs[KindSnapshot]:
			_, ok = fs.Snapshots[id]
		case kindDirs[KindKey]:
			_, ok = fs.Keys[id]
		default:
			ok = false
		}
		return ok
	}, nil
}

// VersionProblems scans a versioned bucket for overwritten objects and
// needed objects hidden behind delete markers (ScanVersions, with removals
// that forgotten records vouch for excused), and returns one line per
// problem for check. A store without versions returns nil and ok false.
func (r *Repository) VersionProblems(ctx context.Context) (problems []string, ok bool, err error) {
	if _, versioned := storage.AsVersioner(r.store); !versioned {
		return nil, false, nil
	}
	removed, err := r.RemovedOnPurpose(ctx)
	if err != nil {
		return nil, true, err
	}
	rep, err := r.ScanVersions(ctx, VersionScanOptions{Removed: removed})
	if errors.Is(err, ErrNoVersions) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	for _, d := range rep.Problems() {
		fix := "cairn repair objects makes the genuine version current again"
		if d.Genuine == "" {
			fix = "no genuine version is stored: restore it from another copy of the repository"
		}
		problems = append(problems, fmt.Sprintf("%s; %s", d, fix))
	}
	return problems, true, nil
}
