package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/pkg/restorer"
)

// confirmDelete asks before restore --delete deletes anything: on a
// terminal it asks, elsewhere it needs --yes. A dry run deletes nothing and
// is never asked about.
func (a *app) confirmDelete(o restoreOptions, snapID, target string) error {
	if !o.delete || o.dryRun || o.yes {
		return nil
	}
	if !isTerminal(a.stdin) {
		return errors.New("restore --delete deletes the entries of " + target + " that the snapshot does not hold: there is no terminal to confirm on, so add --yes (try --dry-run -v first to see what would go)")
	}
	fmt.Fprintf(a.stderr, "Restore snapshot %s into %s and delete every entry there that the snapshot does not hold? [y/N] ", snapID, target)
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("restore --delete: read the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("restore --delete: not confirmed; nothing was restored or deleted")
}

// planPrinter shows the actions of a dry run (every path, with -v) and
// the deletions of --delete (with -v), and counts the deletions.
type planPrinter struct {
	p       *progress
	a       *app
	verbose bool
	json    bool
	deleted uint64
}

func (a *app) newPlanPrinter(p *progress, o restoreOptions) *planPrinter {
	return &planPrinter{p: p, a: a, verbose: a.verbosity() > 0 && !a.v.GetBool("quiet"), json: a.v.GetBool("json")}
}

// plannedLine is the --json line of one action (with -v).
type plannedLine struct {
	MessageType string `json:"message_type"` // "verbose_status"
	Action      string `json:"action"`       // new, replace, skip-unchanged, update, delete
	Item        string `json:"item"`
	Dir         bool   `json:"dir,omitempty"`
	Size        uint64 `json:"size,omitempty"`
}

func (pp *planPrinter) planned(pl restorer.Planned) {
	if pl.Action == restorer.ActionDelete {
		pp.deleted++
	}
	if !pp.verbose {
		return
	}
	pp.p.mu.Lock()
	defer pp.p.mu.Unlock()
	pp.p.clearLocked()
	if pp.json {
		_ = writeJSON(pp.a.stdout, plannedLine{"verbose_status", pl.Action.String(), pl.Path, pl.Dir, pl.Size})
		return
	}
	path := printable(pl.Path)
	if pl.Dir {
		path += "/"
	}
	fmt.Fprintf(pp.a.stdout, "%-14s %s\n", pl.Action, path)
}

// printDryRun is the summary of restore --dry-run.
func (s restoreSummary) printDryRun(w io.Writer) {
	// Counted as a restore counts them (restoreSummary.print).
	fmt.Fprintf(w, "Dry run: would restore %d files", s.Files-s.Special)
	if s.Special > 0 {
		fmt.Fprintf(w, ", %d symlinks and special files", s.Special)
	}
	fmt.Fprintf(w, ", %d directories, %s into %s", s.Dirs, formatBytes(s.Bytes), s.Target)
	if s.Skipped > 0 {
		fmt.Fprintf(w, "; would skip %d existing entries (%s)", s.Skipped, formatBytes(s.SkippedBytes))
	}
	if s.Deleted > 0 {
		fmt.Fprintf(w, "; would delete %d entries the snapshot does not hold", s.Deleted)
	}
	if s.Errors > 0 {
		fmt.Fprintf(w, "; %d path(s) could not be restored (see the warnings above)", s.Errors)
	}
	fmt.Fprintf(w, "; nothing was written (%s)\n", formatDuration(time.Duration(s.DurationSeconds*float64(time.Second))))
}
