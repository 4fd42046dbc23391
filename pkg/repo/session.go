package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// WriteOptions configure a write session.
type WriteOptions struct {
	// Saver configures the session's Saver.
	Saver SaverOptions
	// Warn, if not nil, is told about problems that do not fail the run:
	// a done lease that could not be written after the snapshot was.
	Warn func(err error)
}

// WriteSession is one run that adds data and ends with a snapshot (a
// backup): it owns the run's lease, its uploads and its commit, so that the
// rules of FORMAT.md section 10 are kept in one place. Begin one with
// BeginWrite, store blobs through Saver under Context, then call Commit, or
// Abort to give up. Either ends the lease.
type WriteSession struct {
	r      *Repository
	opts   WriteOptions
	lease  *Lease
	saver  *Saver
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	ended bool

	cleanup sync.WaitGroup // removeDeadLeases, started by BeginWrite
}

// errAborted is the cause of a session's context after Abort.
var errAborted = errors.New("write session aborted")

// leaseEndTimeout bounds writing the done lease, which happens also after
// the caller's context was cancelled (SIGINT, SIGTERM).
const leaseEndTimeout = 15 * time.Second

// BeginWrite starts a write session: it writes the run's lease (see
// StartLease) and then loads the index, the order FORMAT.md section 10
// requires, so the Saver never deduplicates against a pack that a marker
// written before the lease condemns. operation is recorded in the lease
// ("backup").
//
// The session's Context is cancelled when a lease renewal fails (after the
// store's own retries), so the run stops early; Commit then fails with an
// error wrapping ErrLease.
func (r *Repository) BeginWrite(ctx context.Context, operation string, opts WriteOptions) (*WriteSession, error) {
	sctx, cancel := context.WithCancelCause(ctx)
	// The index loads while the lease's start lists deletions/ again; the
	// packs of the markers it finds are condemned whichever comes first,
	// and listing deletions/ a third time would find nothing a session
	// must act on before Commit (which lists it again).
	var indexErr error
	loadIndex := func(ctx context.Context) error {
		if indexErr = r.loadIndexObjects(ctx); indexErr != nil {
			return fmt.Errorf("load index: %w", indexErr)
		}
		return nil
	}
	lease, err := r.startLeaseLost(sctx, operation, func(err error) { cancel(err) }, loadIndex)
	if err != nil {
		cancel(err)
		if indexErr == nil && !errors.Is(err, ErrLease) {
			err = fmt.Errorf("%w: %w", ErrLease, err)
		}
		return nil, err
	}
	s := &WriteSession{r: r, opts: opts, lease: lease, ctx: sctx, cancel: cancel}
	s.saver = r.NewSaver(sctx, opts.Saver)
	// Leases that killed or finished runs left behind are removed while the
	// run works, judged by the server time of the lease just written.
	s.cleanup.Go(func() { r.removeDeadLeases(sctx, lease) })
	return s, nil
}

// Context is cancelled when the session fails (its lease could not be
// renewed) or ends. Do the session's work under it.
func (s *WriteSession) Context() context.Context { return s.ctx }

// Saver stores the session's blobs. Its uploads stop when Context is
// cancelled.
func (s *WriteSession) Saver() *Saver { return s.saver }

// Run returns the random run ID the lease carries.
func (s *WriteSession) Run() string { return s.lease.Run() }

// Err returns why the session's context was cancelled: an error wrapping
// ErrLease when a renewal failed. It is nil while the session is usable.
func (s *WriteSession) Err() error {
	if s.ctx.Err() == nil {
		return nil
	}
	return context.Cause(s.ctx)
}

// Abort gives the session up: it cancels the uploads, waits until no
// upload goroutine is left, and writes the done lease (with a short timeout
// of its own, so that it happens after SIGINT too). Call it after every
// SaveBlob has returned. It returns the error of ending the lease, which
// only delays a concurrent prune until the lease expires.
func (s *WriteSession) Abort(ctx context.Context) error {
	s.cancel(errAborted)
	s.waitUploads()
	return s.end(ctx)
}

// waitUploads waits for every upload goroutine of the Saver; Flush may have
// returned early, on a cancelled context, without waiting.
func (s *WriteSession) waitUploads() { _ = s.saver.uploads.Wait() }

// end writes the done lease once, on a context that outlives ctx's
// cancellation but not by more than leaseEndTimeout.
func (s *WriteSession) end(ctx context.Context) error {
	s.mu.Lock()
	ended := s.ended
	s.ended = true
	s.mu.Unlock()
	if ended {
		return nil
	}
	defer s.cancel(errAborted)
	s.cleanup.Wait()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseEndTimeout)
	defer cancel()
	if err := s.lease.Done(ctx); err != nil {
		return fmt.Errorf("end lease of run %.8s (a concurrent prune waits until it expires): %w", s.lease.Run(), err)
	}
	return nil
}

// Commit finishes the run: it flushes the Saver, renews the lease (which
// must succeed), and then makes sure that every blob the snapshot with root
// tree would reference survives a concurrent prune (see verify) before it
// calls save, which writes the snapshot and returns its ID. It ends the
// lease whatever happens. A lease that failed, or a blob that a prune has
// deleted, gives an error wrapping ErrLease that says to run the backup
// again; no snapshot is written then.
func (s *WriteSession) Commit(ctx context.Context, tree []crypto.ID, save func(ctx context.Context) (crypto.ID, error)) (crypto.ID, error) {
	id, err := s.commit(ctx, tree, save)
	if err != nil {
		s.cancel(errAborted)
		s.waitUploads()
	}
	if endErr := s.end(ctx); endErr != nil && err == nil {
		// The snapshot is written; a lease that stays live only delays
		// prunes until it expires.
		if s.opts.Warn != nil {
			s.opts.Warn(endErr)
		}
	}
	return id, err
}

func (s *WriteSession) commit(ctx context.Context, tree []crypto.ID, save func(ctx context.Context) (crypto.ID, error)) (crypto.ID, error) {
	// Work under ctx, but stop as soon as the lease fails.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.ctx, func() { cancel(context.Cause(s.ctx)) })
	defer stop()

	if err := s.Err(); err != nil {
		return crypto.ID{}, s.leaseErr(err)
	}
	if _, err := s.saver.Flush(ctx); err != nil {
		if lerr := s.Err(); lerr != nil {
			return crypto.ID{}, s.leaseErr(lerr)
		}
		return crypto.ID{}, fmt.Errorf("store data: %w", err)
	}
	if err := s.secure(ctx, tree); err != nil {
		return crypto.ID{}, err
	}
	id, err := save(ctx)
	if err != nil {
		return crypto.ID{}, err
	}
	return id, nil
}

// leaseErr wraps a failure of the lease so that it names the run and says
// what to do.
func (s *WriteSession) leaseErr(err error) error {
	if !errors.Is(err, ErrLease) {
		err = fmt.Errorf("%w: %w", ErrLease, err)
	}
	return fmt.Errorf("%w; no snapshot was written: run the backup again", err)
}
