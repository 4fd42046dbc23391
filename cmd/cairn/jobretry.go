package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// maxRetryWait caps the doubling pause between attempts.
const maxRetryWait = time.Hour

// runAttempts runs the job's steps, again after a transient failure that
// saved no snapshot, as its retry: allows. A run that saved its snapshot
// is not repeated: that would add a second snapshot for one night.
func (a *app) runAttempts(ctx context.Context, name string, job *jobConfig, o runOptions, sum *runSummary, facts *jobFacts) error {
	base := len(sum.Steps)
	attempts, wait := job.Retry.attempts(), job.Retry.wait()
	for attempt := 1; ; attempt++ {
		sum.Steps = sum.Steps[:base]
		if attempts > 1 {
			sum.Attempts = attempt
		}
		err := a.runAttempt(ctx, name, job, o, sum, facts)
		if err == nil || attempt >= attempts || facts.snapshotID != "" || !transientJobError(err) || ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "cairn: job %s: attempt %d of %d failed: %s; trying again in %s\n",
			name, attempt, attempts, oneLine(err.Error()), formatDuration(wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, maxRetryWait)
	}
}

// runAttempt opens the repository and runs the job's steps once.
func (a *app) runAttempt(ctx context.Context, name string, job *jobConfig, o runOptions, sum *runSummary, facts *jobFacts) error {
	spec, err := newJobSpec(name, job)
	if err != nil {
		return err
	}
	r, s, done, err := a.openNamedRepository(ctx, job.Repository)
	if err != nil {
		sum.Steps = append(sum.Steps, stepResult{Step: "open", Status: "failed", Error: oneLine(err.Error())})
		return err
	}
	defer done()
	sum.Repository = s.location()
	return a.runSteps(ctx, r, spec, o, sum, facts)
}

// transientJobError reports whether a failed run is worth running again:
// storage that did not answer, a lease conflict, a network error. A wrong
// passphrase, a missing repository, damage, denied permissions and config
// mistakes are not, whatever else the error wraps.
func transientJobError(err error) bool {
	var busy *jobBusyError
	if errors.As(err, &busy) {
		return false // the lock is taken once, before any attempt
	}
	switch exitCode(err, false) {
	case exitNoRepository, exitWrongPass, exitPartial:
		return false
	case exitLocked, exitUnreachable:
		return true
	}
	switch {
	case errors.Is(err, storage.ErrPermission), errors.Is(err, repo.ErrCorrupt),
		errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, storage.ErrTransient), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EHOSTUNREACH,
		syscall.ENETUNREACH, syscall.ETIMEDOUT, syscall.EPIPE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
