package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
	"github.com/cairn-backup/cairn/pkg/storage/retry"
)

// errReset is what a backend reports for a reset connection.
var errReset = fmt.Errorf("connection reset by peer: %w", storage.ErrTransient)

// noWait is a retry policy that retries at once, as often as the default.
var noWait = retry.Policy{MaxAttempts: 8, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}

// stallingStore stalls the bodies of objects under prefix: a read blocks
// until the Get's context ends or the backend's stall timer (modelled as
// an immediate timeout) gives up, which is a transient error.
type stallingStore struct {
	storage.Store
	prefix string
}

func (s *stallingStore) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, name, offset, length)
	if err != nil || s.prefix == "" || !strings.HasPrefix(name, s.prefix) {
		return rc, err
	}
	rc.Close()
	return &stalledBody{ctx: ctx}, nil
}

type stalledBody struct{ ctx context.Context }

func (b *stalledBody) Read([]byte) (int, error) {
	select {
	case <-b.ctx.Done():
		return 0, b.ctx.Err()
	case <-time.After(time.Millisecond):
		return 0, fmt.Errorf("no bytes for the stall timeout: %w", storage.ErrTransient)
	}
}

func (b *stalledBody) Close() error { return nil }

// TestUnreachableIsNotDamage makes the storage fail in the ways a network
// does (after retries): every outcome is "could not be read", never damage,
// and the report says the check is incomplete.
func TestUnreachableIsNotDamage(t *testing.T) {
	cases := []struct {
		name   string
		faults func(fs *fault.Store, st *stallingStore)
	}{
		{"pack reads cut after 100 bytes", func(fs *fault.Store, st *stallingStore) {
			fs.ShortRead("data/", 100)
		}},
		{"pack reads fail", func(fs *fault.Store, st *stallingStore) {
			fs.FailPrefix(fault.OpGet, "data/", errReset)
		}},
		{"pack stats and reads fail", func(fs *fault.Store, st *stallingStore) {
			fs.FailPrefix(fault.OpGet, "data/", errReset)
			fs.FailPrefix(fault.OpStat, "data/", errReset)
		}},
		{"pack bodies stall", func(fs *fault.Store, st *stallingStore) {
			st.prefix = "data/"
		}},
		{"index reads fail", func(fs *fault.Store, st *stallingStore) {
			fs.FailPrefix(fault.OpGet, "index/", errReset)
		}},
		{"index reads cut", func(fs *fault.Store, st *stallingStore) {
			fs.ShortRead("index/", 10)
		}},
		{"snapshot reads fail", func(fs *fault.Store, st *stallingStore) {
			fs.FailPrefix(fault.OpGet, "snapshots/", errReset)
		}},
		{"deletion, lease and key reads fail", func(fs *fault.Store, st *stallingStore) {
			fs.FailPrefix(fault.OpGet, "deletions/", errReset)
			fs.FailPrefix(fault.OpGet, "leases/", errReset)
			fs.FailPrefix(fault.OpGet, "keys/", errReset)
		}},
		{"nine reads in ten fail", func(fs *fault.Store, st *stallingStore) {
			fs.Seed(3)
			fs.Add(fault.Rule{Op: fault.OpGet, Probability: 0.9, Err: errReset})
		}},
	}
	for _, tc := range cases {
		for _, readData := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/read-data=%v", tc.name, readData), func(t *testing.T) {
				f := everyKind(t)
				fs := fault.New(f.Store)
				st := &stallingStore{Store: fs}
				r := f.openOn(retry.New(st, noWait))
				tc.faults(fs, st) // once opened: the storage fails now
				rep := mustCheck(t, r, Options{ReadData: readData})
				if !rep.OK() || len(rep.DamagedPacks) > 0 || len(rep.DamagedBlobs) > 0 || len(rep.Affected) > 0 {
					t.Fatalf("unreachable storage reported as damage:\nerrors: %s\ndamaged packs %v, blobs %v, affected %v",
						strings.Join(rep.Errors, "\n"), rep.DamagedPacks, rep.DamagedBlobs, rep.Affected)
				}
				if rep.Complete() || rep.Unread == 0 {
					t.Fatalf("check does not say it could not read everything: %+v", rep)
				}
				if err := rep.Incomplete(); !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "run check again when the storage is reachable") {
					t.Errorf("Incomplete() = %v", err)
				}
			})
		}
	}
}

// TestDamageBesideUnreachable: a pack with a flipped byte is still named
// damaged while other reads fail.
func TestDamageBesideUnreachable(t *testing.T) {
	f := newFixture(t)
	_, s2 := twoSnapshots(f)
	victim := f.PacksOf(f.Repo, s2, "/home/b/w")[0]
	f.flipByte(victim)
	fs := fault.New(f.Store)
	fs.FailPrefix(fault.OpGet, "snapshots/", errReset)
	rep := mustCheck(t, f.openOn(retry.New(fs, noWait)), Options{ReadData: true})
	if rep.OK() || len(rep.DamagedPacks) != 1 || rep.DamagedPacks[0] != victim {
		t.Errorf("damaged packs %v, want %s; errors %v", rep.DamagedPacks, victim.Short(), rep.Errors)
	}
	if rep.Complete() {
		t.Error("unreadable snapshots not reported")
	}
}
