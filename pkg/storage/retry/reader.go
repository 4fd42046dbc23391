package retry

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// resumingReader is the reader Get returns. When reading fails with a
// transient error (or io.ErrUnexpectedEOF) it closes the broken body, waits
// like any other retry and opens the object again at offset+read, so a
// download interrupted after 90% costs the remaining 10%, not a restart.
//
// The reader keeps the ctx of the Get call, as an HTTP response body does:
// the download belongs to that request, and cancelling it stops re-opens
// too. Each run of failures without a byte received in between has the
// time budget of one operation (Policy.RetryFor), so a server that keeps
// dropping the connection cannot keep the reader busy forever; with
// Policy.MaxAttempts set, re-opens over the reader's life are capped too.
type resumingReader struct {
	ctx    context.Context
	store  *Store
	name   string
	offset int64 // of the original request
	length int64 // of the original request; < 0 means to the end

	body     io.ReadCloser // nil once closed or failed for good
	read     int64         // bytes handed to the caller so far
	failures int           // failed attempts so far, over the reader's life
	// runFailures counts the failures since the last progress: the
	// backoff grows with it, so a link that keeps cutting a long download
	// but delivers between cuts resumes after short waits.
	runFailures int
	// failingSince is when the current run of failures began (zero while
	// reads succeed): the time budget covers each run, so a long download
	// that sometimes breaks is not cut off by its total length.
	failingSince time.Time
	err          error // sticky error once the reader gave up
}

func (r *resumingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for {
		n, err := r.watchedRead(p)
		r.read += int64(n)
		if n > 0 {
			r.failingSince = time.Time{} // progress ends a run of failures
			r.runFailures = 0
		}
		if err == nil || err == io.EOF || !retryableRead(err) {
			return n, err
		}
		if rerr := r.reopen(err); rerr != nil {
			r.err = rerr
			return n, rerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

// watchedRead reads from the body, closing it if the Read delivers nothing
// for Policy.StallTimeout: closing is what unblocks a Read stuck on a
// silent connection, and the stall is then reported as a transient error
// so that Read resumes on a fresh connection. A timer per Read costs far
// less than the read itself.
func (r *resumingReader) watchedRead(p []byte) (int, error) {
	body := r.body
	var stalled atomic.Bool
	timeout := r.store.policy.StallTimeout
	t := time.AfterFunc(timeout, func() {
		stalled.Store(true)
		_ = body.Close()
	})
	n, err := body.Read(p)
	if !t.Stop() && stalled.Load() {
		return n, fmt.Errorf("read %s: %w: no data for %v, connection closed", r.name, storage.ErrTransient, timeout)
	}
	return n, err
}

// reopen replaces the broken body with a fresh one positioned after the
// bytes already read.
func (r *resumingReader) reopen(cause error) error {
	_ = r.body.Close() // the body is broken; its Close error says nothing new
	r.body = nil
	p := r.store.policy
	if r.failingSince.IsZero() {
		r.failingSince = p.Now()
	}
	for {
		r.failures++
		r.runFailures++
		d := p.delay(r.runFailures, cause)
		if why, done := p.exhausted(r.failures, r.failingSince, d); done {
			return fmt.Errorf("%s: %w", why, cause)
		}
		if err := p.wait(r.ctx, "read", r.name, r.failures, cause, d); err != nil {
			return fmt.Errorf("read %s: %w while waiting to retry after: %v", r.name, err, cause)
		}
		length := r.length
		if length >= 0 {
			length -= r.read
			if length <= 0 {
				// Everything asked for arrived; only the end
				// of the body was lost.
				r.body = io.NopCloser(strings.NewReader(""))
				return nil
			}
		}
		body, err := r.store.inner.Get(r.ctx, r.name, r.offset+r.read, length)
		if err == nil {
			r.body = body
			return nil
		}
		if !retryable(err) {
			return err
		}
		cause = err
	}
}

// Remaining forwards the current body's storage.Sized, or -1.
func (r *resumingReader) Remaining() int64 {
	if s, ok := r.body.(storage.Sized); ok && r.err == nil {
		return s.Remaining()
	}
	return -1
}

// Close closes the current body, if any.
func (r *resumingReader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	if r.err == nil {
		r.err = fmt.Errorf("read %s after Close", r.name)
	}
	return err
}
