package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-backup/cairn/pkg/repo"
)

func newUnlockCommand(a *app) *cobra.Command {
	var dead bool
	cmd := &cobra.Command{
		Use:   "unlock [--dead]",
		Short: "Release the leases of runs on this host that were killed",
		Long: `cairn takes no lock: backups and prunes announce themselves with leases, and
a prune only waits before deleting data that a live run might still use. A
run that is killed (kill -9, a crash, a lost machine) leaves a lease that
counts as live for 30 minutes, and prunes wait for it meanwhile.

Without --dead, unlock changes nothing: it lists the live runs with their
host, process ID and start time.

With --dead, it releases the runs of this host and user whose process no
longer exists, by writing a done lease for each (append-only credentials
suffice), and lists what it released. Runs of other machines are never
touched: only their own host can tell that their process is gone.`,
		Example: `  cairn unlock
  cairn unlock --dead`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withRepository(cmd.Context(), func(r *repo.Repository) error {
				if dead {
					return releaseDead(cmd.Context(), r, a.stdout)
				}
				return listLive(cmd.Context(), r, a.stdout)
			})
		},
	}
	cmd.Flags().BoolVar(&dead, "dead", false, "release the leases of runs on this host whose process no longer exists")
	return cmd
}

func releaseDead(ctx context.Context, r *repo.Repository, w io.Writer) error {
	released, err := r.ReleaseDeadRuns(ctx, processExists)
	for _, run := range released {
		fmt.Fprintf(w, "released %s\n", describeRun(run))
	}
	if err != nil {
		return err
	}
	if len(released) == 0 {
		fmt.Fprintln(w, "no run of this host is left over from a process that no longer exists")
	}
	return nil
}

func listLive(ctx context.Context, r *repo.Repository, w io.Writer) error {
	runs, err := r.LeaseRuns(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "cairn takes no lock; prunes wait only for live runs (cairn unlock --dead releases killed ones of this host).")
	n := 0
	for _, run := range runs {
		if run.Live {
			fmt.Fprintf(w, "live: %s\n", describeRun(run))
			n++
		}
	}
	if n == 0 {
		fmt.Fprintln(w, "no live runs")
	}
	return nil
}

func describeRun(run repo.LeaseRun) string {
	rec := run.Record
	return fmt.Sprintf("%s run %.8s on %s (pid %d, user %s, started %s, lease renewed %s)",
		rec.Operation, rec.Run, rec.Host, rec.PID, rec.Username,
		rec.Started.Local().Format(time.DateTime), run.Newest.Local().Format(time.DateTime))
}

// processExists reports whether a process with this PID exists on this
// machine. Only "no such process" counts as gone: a permission error means
// it exists under another user.
func processExists(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
