package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/state"
)

// jobBusyError reports that another run of the job holds its lock. It
// wraps repo.ErrLease so that it exits 11 ("could not lock").
type jobBusyError struct {
	job, path, holder string
	waited            time.Duration
}

func (e *jobBusyError) Error() string {
	who := "another cairn run"
	if e.holder != "" {
		who = "cairn process " + e.holder
	}
	waited := "; give --lock-wait 10m to wait for it"
	if e.waited > 0 {
		waited = fmt.Sprintf(" after waiting %s; raise --lock-wait to wait longer", e.waited)
	}
	return fmt.Sprintf("job %s is already running (%s holds %s)%s", e.job, who, e.path, waited)
}

func (e *jobBusyError) Unwrap() error { return repo.ErrLease }

// lockPollInterval is how often a waiting run tries the lock again.
const lockPollInterval = 250 * time.Millisecond

// lockJob takes the job's lock file, an flock on
// $XDG_STATE_HOME/cairn/locks/JOB.lock, waiting up to wait for a running
// run of the same job to end. The kernel drops the lock when the process
// dies, so a kill -9 leaves nothing stale behind. The file holds the
// holder's pid, for the message of the run that finds it taken.
func lockJob(ctx context.Context, job string, wait time.Duration) (release func(), err error) {
	base, err := state.DefaultBase()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(string(base), "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("job %s: create the lock directory: %w", job, err)
	}
	path := filepath.Join(dir, url.PathEscape(job)+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("job %s: open its lock file: %w", job, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("job %s: lock %s: %w", job, path, err)
		}
		if !time.Now().Before(deadline) {
			holder, _ := os.ReadFile(path)
			f.Close()
			return nil, &jobBusyError{job: job, path: path, holder: strings.TrimSpace(string(holder)), waited: wait}
		}
		t := time.NewTimer(min(lockPollInterval, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
