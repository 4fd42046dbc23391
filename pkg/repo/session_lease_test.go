package repo_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
)

// A lease that cannot be renewed fails the session: its context is
// cancelled (by the refresher, or found at Commit's own renewal, which a
// lease written more than a minute ago needs) and no snapshot is written.
func TestLeaseRenewalFailureFailsSession(t *testing.T) {
	for _, refresher := range []bool{true, false} {
		t.Run(map[bool]string{true: "refresher", false: "at commit"}[refresher], func(t *testing.T) {
			f := repotest.NewFixture(t)
			fs := fault.New(f.Store)
			b := client(t, f, fs)
			var skew atomic.Int64 // added to the clock
			repo.SetLeaseTiming(b, func() time.Time { return time.Now().UTC().Add(time.Duration(skew.Load())) }, 0, 0)
			if refresher {
				repo.SetLeaseTiming(b, nil, time.Millisecond, 0)
			}
			sess, err := b.BeginWrite(f.Ctx, "backup", repo.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{"/x": repotest.Content(5, 9000)}
			tree := f.StoreFilesWith(sess.Saver(), files)
			fs.FailPrefix(fault.OpPut, "leases/", errors.New("injected: lease put refused"))
			if refresher {
				select {
				case <-sess.Context().Done():
				case <-time.After(time.Minute):
					t.Fatal("session not cancelled after its lease renewals failed")
				}
				if err := sess.Err(); !errors.Is(err, repo.ErrLease) {
					t.Errorf("session error %v, want ErrLease", err)
				}
			}
			// Two minutes pass (a slow backup): Commit must renew.
			skew.Store(int64(2 * time.Minute))
			saved := false
			_, err = sess.Commit(f.Ctx, tree, func(ctx context.Context) (crypto.ID, error) {
				saved = true
				return crypto.ID{}, nil
			})
			if !errors.Is(err, repo.ErrLease) || saved {
				t.Fatalf("commit: %v (snapshot saved: %v), want ErrLease and no snapshot", err, saved)
			}
			if n := countObjects(t, f.Store, "snapshots/"); n != 0 {
				t.Errorf("%d snapshots written", n)
			}
		})
	}
}

// blockingStore holds every pack upload until its context is cancelled,
// and counts the uploads still running; it yields before it returns, so
// that a caller that does not wait for it would see it running.
type blockingStore struct {
	storage.Store
	started  chan struct{}
	inFlight atomic.Int32
}

func (s *blockingStore) Put(ctx context.Context, name string, data []byte) error {
	if !strings.HasPrefix(name, "data/") {
		return s.Store.Put(ctx, name, data)
	}
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	select {
	case s.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	for range 100 {
		runtime.Gosched()
	}
	return ctx.Err()
}

func TestAbortWaitsForUploads(t *testing.T) {
	f := repotest.NewFixture(t)
	bs := &blockingStore{Store: f.Store, started: make(chan struct{}, 1)}
	b := client(t, f, bs)
	sess, err := b.BeginWrite(f.Ctx, "backup", repo.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if _, err := sess.Saver().SaveBlob(f.Ctx, pack.DataBlob, repotest.Content(uint64(10+i), 1500)); err != nil {
			t.Fatal(err)
		}
	}
	<-bs.started
	if err := sess.Abort(f.Ctx); err != nil {
		t.Fatal(err)
	}
	if n := bs.inFlight.Load(); n != 0 {
		t.Errorf("%d uploads still running after Abort", n)
	}
	if live, _, err := client(t, f, nil).LeaseCounts(f.Ctx); err != nil || live != 0 {
		t.Errorf("live runs after Abort: %d %v", live, err)
	}
}

// A committing backup removes the leases of runs that are done or expired,
// unless its credentials are append-only; LeaseCounts reports them.
func TestCommitRemovesDeadLeases(t *testing.T) {
	for _, appendOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "full", true: "append-only"}[appendOnly], func(t *testing.T) {
			f := repotest.NewFixture(t)
			// A run with append-only credentials leaves a done lease.
			done, err := client(t, f, createonly.New(f.Store)).StartLease(f.Ctx, "backup")
			if err != nil {
				t.Fatal(err)
			}
			if err := done.Done(f.Ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := client(t, f, nil).StartLease(f.Ctx, "backup"); err != nil { // never ends
				t.Fatal(err)
			}
			if live, dead, err := client(t, f, nil).LeaseCounts(f.Ctx); err != nil || live != 1 || dead != 1 {
				t.Fatalf("before: live %d dead %d %v, want 1 and 1", live, dead, err)
			}
			var store storage.Store = f.Store
			if appendOnly {
				store = createonly.New(f.Store)
			}
			b := client(t, f, store)
			// A lifetime of a nanosecond makes the run that never ended
			// expired, as it would be after 30 minutes.
			repo.SetLeaseTiming(b, nil, 0, time.Nanosecond)
			sess, err := b.BeginWrite(f.Ctx, "backup", repo.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{"/y": repotest.Content(6, 5000)}
			tree := f.StoreFilesWith(sess.Saver(), files)
			if _, err := sess.Commit(f.Ctx, tree, func(ctx context.Context) (crypto.ID, error) {
				return f.Commit(b, repotest.T0, files, tree), nil
			}); err != nil {
				t.Fatal(err)
			}
			live, dead, err := client(t, f, nil).LeaseCounts(f.Ctx)
			switch {
			case err != nil:
				t.Fatal(err)
			case appendOnly && (live != 1 || dead != 2):
				t.Errorf("append-only: live %d dead %d, want 1 and 2 (nothing removed)", live, dead)
			case !appendOnly && (live != 0 || dead != 0):
				t.Errorf("live %d dead %d, want 0 and 0 (this run deleted its own lease)", live, dead)
			}
			verifySnapshots(t, f)
		})
	}
}

// ReleaseDeadRuns ends the runs of this host and user whose process is
// gone, and only those.
func TestReleaseDeadRuns(t *testing.T) {
	f := repotest.NewFixture(t)
	open := func(host string) *repo.Repository {
		r, err := repo.Open(f.Ctx, createonly.New(f.Store), []byte(repotest.Passphrase), repo.OpenOptions{Host: host, Username: "u"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	killed, err := open("here").StartLease(f.Ctx, "prune")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open("elsewhere").StartLease(f.Ctx, "backup"); err != nil {
		t.Fatal(err)
	}
	// Every run of this test has this process's PID: pretend the one
	// started first was killed.
	alive := func(pid int) bool { return pid != os.Getpid() }
	r := open("here")
	released, err := r.ReleaseDeadRuns(f.Ctx, func(pid int) bool { return alive(pid) })
	if err != nil {
		t.Fatal(err)
	}
	if len(released) != 1 || released[0].Record.Run != killed.Run() || released[0].Record.Operation != "prune" {
		t.Fatalf("released %+v, want only the killed run of this host", released)
	}
	runs, err := r.LeaseRuns(f.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range runs {
		if want := run.Record.Host == "elsewhere"; run.Live != want {
			t.Errorf("run on %s: live %v, want %v", run.Record.Host, run.Live, want)
		}
	}
	// A live process is never released.
	if again, err := r.ReleaseDeadRuns(f.Ctx, func(int) bool { return true }); err != nil || len(again) != 0 {
		t.Errorf("released live runs: %+v %v", again, err)
	}
}

// A run interrupted by SIGINT (its context cancelled) still ends its lease
// at once when it aborts.
func TestAbortAfterInterruptEndsLease(t *testing.T) {
	f := repotest.NewFixture(t)
	b := client(t, f, nil)
	ctx, cancel := context.WithCancel(f.Ctx)
	sess, err := b.BeginWrite(ctx, "backup", repo.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.StoreFilesWith(sess.Saver(), map[string][]byte{"/z": repotest.Content(7, 9000)})
	cancel()
	if err := sess.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	live, dead, err := client(t, f, nil).LeaseCounts(f.Ctx)
	if err != nil || live != 0 || dead != 0 {
		t.Errorf("after an interrupted run: live %d dead %d %v, want 0 and 0 (its lease deleted)", live, dead, err)
	}
}

// A session ends with one request: a commit soon after the lease was
// written does not renew it, and the end deletes the lease (or, with
// credentials that cannot delete, writes the done lease).
func TestShortSessionLeaseRequests(t *testing.T) {
	for _, appendOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "full", true: "append-only"}[appendOnly], func(t *testing.T) {
			f := repotest.NewFixture(t)
			fs := fault.New(f.Store)
			var store storage.Store = fs
			if appendOnly {
				store = createonly.New(fs)
			}
			b := client(t, f, store)
			sess, err := b.BeginWrite(f.Ctx, "backup", repo.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{"/y": repotest.Content(6, 5000)}
			tree := f.StoreFilesWith(sess.Saver(), files)
			// From here on, a lease put fails: Commit must not need one
			// unless the delete is refused.
			fs.FailPrefix(fault.OpPut, "leases/", errors.New("injected: lease put"))
			_, err = sess.Commit(f.Ctx, tree, func(ctx context.Context) (crypto.ID, error) {
				return f.Commit(b, repotest.T0, files, tree), nil
			})
			if err != nil {
				t.Fatalf("commit: %v", err)
			}
			live, dead, err := client(t, f, nil).LeaseCounts(f.Ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Append-only: the done lease could not be written either, so
			// the run's lease stays live until it expires.
			if wantLive := map[bool]int{false: 0, true: 1}[appendOnly]; live != wantLive || dead != 0 {
				t.Errorf("live %d dead %d, want %d and 0", live, dead, wantLive)
			}
			verifySnapshots(t, f)
		})
	}
}
