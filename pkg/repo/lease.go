package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"golang.org/x/sync/errgroup"
)

// Lease timing (FORMAT.md section 10). A run is live while its newest lease
// is younger than LeaseLifetime and it has no done lease.
const (
	LeaseRefresh  = 5 * time.Minute
	LeaseLifetime = 30 * time.Minute
)

// ErrLease is wrapped by every failure to start, renew or end a lease. A
// run that cannot announce itself must not add data (a concurrent prune
// could delete what it uses), so callers stop and report it as such.
var ErrLease = errors.New("could not write or renew the lease")

// LeaseRecord is the JSON body of a lease object.
type LeaseRecord struct {
	Run           string    `json:"run"`
	Host          string    `json:"host"`
	Username      string    `json:"username"`
	PID           int       `json:"pid"`
	Operation     string    `json:"operation"`
	Started       time.Time `json:"started"`
	SeenDeletions []string  `json:"seen_deletions"`
	Done          bool      `json:"done"`
}

// LoadLease loads and decodes lease object id.
func (r *Repository) LoadLease(ctx context.Context, id crypto.ID) (LeaseRecord, error) {
	body, err := r.LoadObject(ctx, KindLease, id)
	if err != nil {
		return LeaseRecord{}, err
	}
	var rec LeaseRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return LeaseRecord{}, fmt.Errorf("%s: decode: %w", ObjectName(KindLease, id), err)
	}
	return rec, nil
}

// Lease announces a running operation that adds data, so that a concurrent
// prune does not delete packs it may be using. Start one with StartLease
// before loading the index, and end it with Done after the snapshot is
// written.
type Lease struct {
	r      *Repository
	record LeaseRecord // guarded by mu once the refresher runs
	seen   []crypto.ID

	// lost, if set, is told about the first failed renewal; a write
	// session cancels itself with it.
	lost func(error)

	mu      sync.Mutex
	current crypto.ID // the newest lease object written
	// lastWrite is when the write of the newest lease object began: the
	// server's modification time is no earlier, so measuring gaps from it
	// errs on the side of "stale".
	lastWrite time.Time
	lapses    int   // writes that came more than staleAfter after the previous one
	err       error // the first failed renewal
	stop      context.CancelFunc
	stopped   chan struct{}
	done      bool
}

// maxLeaseRounds bounds StartLease's list-write-list loop; markers appear
// only when a prune runs, so two rounds are the norm.
const maxLeaseRounds = 10

// StartLease lists deletions/, writes a lease listing the markers seen,
// and lists again until no new marker appears; it then condemns their packs
// in Index() (as LoadIndex also does). A goroutine writes a fresh lease
// every LeaseRefresh until Done. It stops too when ctx is cancelled.
func (r *Repository) StartLease(ctx context.Context, operation string) (*Lease, error) {
	l, err := r.startLease(ctx, operation)
	if err != nil && !errors.Is(err, ErrLease) {
		err = fmt.Errorf("%w: %w", ErrLease, err)
	}
	return l, err
}

func (r *Repository) startLease(ctx context.Context, operation string) (*Lease, error) {
	return r.startLeaseLost(ctx, operation, nil, nil)
}

// startLeaseLost is StartLease with a function told about the first failed
// renewal (see Lease.lost). alongside, if not nil, runs once the first
// lease is stored, at the same time as the listings that follow, and
// startLeaseLost returns its error: a write session loads the index there,
// which must happen after a lease is visible (FORMAT.md section 10) but
// need not wait for the markers, whose packs are condemned in Index()
// whenever they are read.
func (r *Repository) startLeaseLost(ctx context.Context, operation string, lost func(error), alongside func(context.Context) error) (_ *Lease, err error) {
	var run [16]byte
	if _, err := rand.Read(run[:]); err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	l := &Lease{r: r, lost: lost, record: LeaseRecord{
		Run: hex.EncodeToString(run[:]), Host: r.opts.Host, Username: r.opts.Username,
		PID: os.Getpid(), Operation: operation, Started: r.now(),
	}}
	seen, err := r.ListObjects(ctx, KindDeletion)
	if err != nil {
		return nil, err
	}
	var side errgroup.Group
	written := false
	defer func() {
		_ = side.Wait() // on every return path
		if err != nil && written {
			// End the lease written before the failure, so no prune
			// waits for this run until it expires.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseEndTimeout)
			defer cancel()
			_ = l.write(ctx, true)
		}
	}()
	for round := 0; ; round++ {
		l.seen = seen
		if err := l.write(ctx, false); err != nil {
			return nil, err
		}
		written = true
		if round == 0 && alongside != nil {
			side.Go(func() error { return alongside(ctx) })
		}
		again, err := r.ListObjects(ctx, KindDeletion)
		if err != nil {
			return nil, err
		}
		added := false
		for _, id := range again {
			if !slices.Contains(seen, id) {
				seen, added = append(seen, id), true
			}
		}
		if !added {
			break
		}
		if round == maxLeaseRounds {
			return nil, fmt.Errorf("lease: deletion markers keep appearing; is a prune looping?")
		}
	}
	if err := r.condemn(ctx, l.seen); err != nil {
		return nil, err
	}
	if err := side.Wait(); err != nil {
		return nil, err
	}
	refreshCtx, stop := context.WithCancel(ctx)
	l.stop, l.stopped = stop, make(chan struct{})
	go l.refresh(refreshCtx)
	return l, nil
}

// refresh rewrites the lease every r.leaseRefresh. The store has retried a
// write that fails, so the first failure is recorded (Err) and reported to
// l.lost: a run that cannot renew its lease may be taken for dead by a
// prune, and must not go on as if nothing happened. Later ticks still try,
// for callers without lost that only want the lease kept alive.
func (l *Lease) refresh(ctx context.Context) {
	defer close(l.stopped)
	t := time.NewTicker(l.r.leaseRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.write(ctx, false); err != nil && ctx.Err() == nil {
				l.failed(err)
			}
		}
	}
}

// failed records the first failed renewal and tells l.lost.
func (l *Lease) failed(err error) {
	l.mu.Lock()
	first := l.err == nil
	if first {
		l.err = fmt.Errorf("renew lease of run %.8s: %w", l.record.Run, err)
		err = l.err
	}
	l.mu.Unlock()
	if first && l.lost != nil {
		l.lost(err)
	}
}

// Err returns the first renewal that failed, wrapping ErrLease, or nil.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// staleAfter is the gap between two lease writes beyond which a run counts
// as stale: the lifetime, less a sixth for the time a put takes to become
// visible and for the prune's own clock reading.
func (r *Repository) staleAfter() time.Duration { return r.leaseLifetime - r.leaseLifetime/6 }

// write stores a lease object and then removes the previous one of this
// run (best effort: append-only credentials cannot, and liveness only
// looks at the newest lease of a run).
func (l *Lease) write(ctx context.Context, done bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.record
	rec.SeenDeletions = hexIDs(l.seen)
	rec.Done = done
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	began := l.r.now()
	id, err := l.r.SaveObject(ctx, KindLease, body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLease, err)
	}
	prev := l.current
	l.current = id
	if !l.lastWrite.IsZero() && l.r.now().Sub(l.lastWrite) > l.r.staleAfter() {
		l.lapses++
	}
	l.lastWrite = began
	if !prev.IsZero() {
		_ = l.r.DeleteObject(ctx, KindLease, prev)
	}
	return nil
}

// Done stops the refresher and writes the final lease with done set. The
// lease must not be used afterwards.
func (l *Lease) Done(ctx context.Context) error {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return nil
	}
	l.done = true
	l.mu.Unlock()
	l.stop()
	<-l.stopped
	return l.finish(ctx)
}

// finish ends the run in one request where the credentials allow: it
// deletes the run's current lease, which leaves the run without a lease
// object, and so over for every reader (FORMAT.md section 10). With
// credentials that cannot delete, or when the delete fails, it writes the
// done lease instead.
func (l *Lease) finish(ctx context.Context) error {
	l.mu.Lock()
	cur := l.current
	l.mu.Unlock()
	if !cur.IsZero() {
		if err := l.r.DeleteObject(ctx, KindLease, cur); err == nil {
			l.mu.Lock()
			l.current = crypto.ID{}
			l.mu.Unlock()
			return nil
		}
	}
	return l.write(ctx, true)
}

// SeenDeletions returns the deletion markers the lease lists.
func (l *Lease) SeenDeletions() []crypto.ID { return slices.Clone(l.seen) }

// Stale reports whether a concurrent prune may have taken this run for
// dead: at some point no lease was written for LeaseLifetime (the process
// was suspended, or storage failed for that long). Such a run must not
// write its snapshot before checking, with NewDeletions and the index,
// that the blobs it references still exist (FORMAT.md section 10).
func (l *Lease) Stale() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lapses > 0 || l.r.now().Sub(l.lastWrite) > l.r.staleAfter()
}

// lapseCount returns how many writes so far came after a gap that made the
// run look dead.
func (l *Lease) lapseCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lapses
}

// renew writes a fresh lease now.
func (l *Lease) renew(ctx context.Context) error { return l.write(ctx, false) }

// freshFor is how recent the last lease write must be for Commit to go on
// without writing another: far below staleAfter, so that no prune can have
// taken the run for dead since.
const freshFor = time.Minute

// fresh reports whether the last lease write began less than freshFor ago
// by the wall clock (r.now, which has no monotonic reading, so a suspended
// machine's lost hours count) and no write lapsed. A clock set back counts
// as not fresh.
func (l *Lease) fresh() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	age := l.r.now().Sub(l.lastWrite)
	return l.lapses == 0 && l.err == nil && !l.lastWrite.IsZero() && age >= 0 && age < freshFor
}

// NewDeletions lists deletions/ and returns the markers this lease did not
// see, after condemning their packs in Index().
func (l *Lease) NewDeletions(ctx context.Context) ([]crypto.ID, error) {
	ids, err := l.r.ListObjects(ctx, KindDeletion)
	if err != nil {
		return nil, err
	}
	ids = slices.DeleteFunc(ids, func(id crypto.ID) bool { return slices.Contains(l.seen, id) })
	if err := l.r.condemn(ctx, ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// Run returns the lease's random run ID.
func (l *Lease) Run() string { return l.record.Run }
