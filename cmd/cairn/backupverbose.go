package main

import (
	"fmt"

	"github.com/cairn-backup/cairn/pkg/archiver"
)

// backupStatusLine is the --json line of one entry with backup -v/-vv, as
// restic's verbose_status.
type backupStatusLine struct {
	MessageType string `json:"message_type"` // "verbose_status"
	Action      string `json:"action"`       // new, changed, unchanged, excluded, skipped
	Item        string `json:"item"`
	Size        uint64 `json:"size,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// backupFileStatus returns the archiver's FileStatus callback for the
// verbosity: -v lists new and changed files (and skipped entries), -vv
// every entry with its status; nil when nothing is listed. Lines go to
// stdout, above the progress line.
func (a *app) backupFileStatus(p *progress) func(archiver.FileStatus) {
	level := a.verbosity()
	if level == 0 || a.v.GetBool("quiet") {
		return nil
	}
	json := a.v.GetBool("json")
	return func(fs archiver.FileStatus) {
		switch fs.Status {
		case archiver.StatusNew, archiver.StatusChanged, archiver.StatusSkipped:
		default:
			if level < 2 {
				return
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.clearLocked()
		if json {
			_ = writeJSON(a.stdout, backupStatusLine{"verbose_status", fs.Status, fs.Path, fs.Size, fs.Reason})
			return
		}
		line := fmt.Sprintf("%-9s %s", fs.Status, printable(fs.Path))
		if fs.Status != archiver.StatusExcluded && fs.Status != archiver.StatusSkipped {
			line += " (" + formatBytes(fs.Size) + ")"
		}
		if fs.Reason != "" {
			line += ": " + printable(fs.Reason)
		}
		fmt.Fprintln(a.stdout, line)
	}
}
