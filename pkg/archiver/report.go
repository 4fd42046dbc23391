package archiver

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// counters are a run's statistics, updated by every goroutine.
type counters struct {
	filesNew, filesChanged, filesUnchanged atomic.Uint64
	dirs                                   atomic.Uint64
	bytesRead                              atomic.Uint64 // read from files
	bytesDone                              atomic.Uint64 // sizes of finished files
	bytesUnchanged                         atomic.Uint64 // sizes of files taken from the parent
}

// reporter collects the entries that could not be stored completely and
// passes problems to Options.Warn, one call at a time.
type reporter struct {
	mu      sync.Mutex
	warnFn  func(path string, err error)
	skipped []snapshot.Skipped
}

// skip records that path was left out or stored incompletely.
func (r *reporter) skip(path string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped = append(r.skipped, snapshot.Skipped{Path: path, Error: skipReason(err)})
	if r.warnFn != nil {
		r.warnFn(path, err)
	}
}

// warn reports a problem that does not make the entry incomplete.
func (r *reporter) warn(path string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.warnFn != nil {
		r.warnFn(path, err)
	}
}

func (r *reporter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.skipped)
}

// sortedSkipped returns the skipped entries sorted by path, so that the
// order does not depend on goroutine scheduling.
func (r *reporter) sortedSkipped() []snapshot.Skipped {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := slices.Clone(r.skipped)
	slices.SortStableFunc(s, func(a, b snapshot.Skipped) int { return strings.Compare(a.Path, b.Path) })
	return s
}

// skipReason is the error text for Skipped: the snapshot lists the path
// separately, so a path error gives only its operation and cause.
func skipReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// progressInterval is how often Options.Progress is called.
const progressInterval = 200 * time.Millisecond

// progress returns the current state.
func (a *archiver) progress(start time.Time) Progress {
	p := Progress{
		Files:          a.stats.filesNew.Load() + a.stats.filesChanged.Load() + a.stats.filesUnchanged.Load(),
		FilesUnchanged: a.stats.filesUnchanged.Load(),
		Dirs:           a.stats.dirs.Load(),
		Bytes:          a.stats.bytesDone.Load(),
		BytesRead:      a.stats.bytesRead.Load(),
		BytesNew:       uint64(a.saverStats().DataBytesNew),
		Processed:      a.stats.bytesUnchanged.Load() + a.stats.bytesRead.Load(),
		Skipped:        a.report.count(),
		Elapsed:        time.Since(start),
		TotalFiles:     a.totals.files.Load(),
		TotalBytes:     a.totals.bytes.Load(),
		TotalsFinal:    a.totals.done.Load(),
	}
	if cur := a.current.Load(); cur != nil {
		p.Current = *cur
	}
	return p
}

// reportProgress calls Options.Progress every progressInterval until stop
// is closed or ctx is done.
func (a *archiver) reportProgress(ctx context.Context, start time.Time, stop <-chan struct{}) {
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.opts.Progress(a.progress(start))
		case <-stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

// statsFunc returns a Saver's counts so far.
type statsFunc func() repo.SaveStats
