package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/rollback"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/state"
)

// watchSnapshots compares a complete listing with what this client has
// seen of the repository before (pkg/rollback), warns on stderr about
// snapshots that vanished without a forget, and remembers the listing. It
// returns the findings for check, which fails on them. Its own failures
// (no state directory, an unreadable memory) are warnings: they must not
// stop a backup or a restore.
func (a *app) watchSnapshots(ctx context.Context, r *repo.Repository, all []snapshot.Entry) rollback.Findings {
	warn := func(err error) {
		fmt.Fprintf(a.stderr, "cairn: warning: cannot compare with the snapshots seen before: %s\n", oneLine(err.Error()))
	}
	base, err := state.DefaultBase()
	if err != nil {
		warn(err)
		return rollback.Findings{}
	}
	rs, err := base.Repo(r.Config().ID)
	if err != nil {
		warn(err)
		return rollback.Findings{}
	}
	mem, err := rollback.Load(rs.Dir())
	if err != nil {
		warn(err)
		return rollback.Findings{}
	}
	forgotten, err := r.LoadForgotten(ctx)
	if err != nil {
		warn(err)
		return rollback.Findings{}
	}
	listed := make([]rollback.Snapshot, 0, len(all))
	for _, e := range all {
		listed = append(listed, rollback.Snapshot{ID: e.ID, Host: e.Snapshot.Host, Time: e.Snapshot.Time})
	}
	// A snapshot object the listing passed over (damaged, junk) is still
	// there: it is reported as such, not as hidden.
	present := append([]rollback.Snapshot(nil), listed...)
	for _, sk := range r.Skipped() {
		if hex, ok := strings.CutPrefix(sk.Name, "snapshots/"); ok {
			if id, err := crypto.ParseID(hex); err == nil {
				present = append(present, rollback.Snapshot{ID: id})
			}
		}
	}
	findings := mem.Compare(present, forgotten.Snapshots)
	for _, line := range findings.Message() {
		fmt.Fprintf(a.stderr, "cairn: warning: %s\n", strings.TrimSpace(line))
	}
	mem.Update(listed, forgotten.Snapshots)
	if err := mem.Save(rs.Dir()); err != nil {
		warn(err)
	}
	return findings
}
