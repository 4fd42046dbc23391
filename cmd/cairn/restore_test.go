package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/restorer"
)

// TestRestoreInterruptMessage: an interrupted restore says what it did and
// that running it again finishes, and says nothing about backups.
func TestRestoreInterruptMessage(t *testing.T) {
	err := restoreInterrupted(&restorer.Result{Files: 12, Bytes: 3 << 20, Skipped: 4}, fmt.Errorf("restore: %w", context.Canceled))
	got := errorLine(err, true)
	for _, want := range []string{"restore interrupted", "12 files (3.0 MiB)", "4 already there", "Run the same command again"} {
		if !strings.Contains(got, want) {
			t.Errorf("message %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "backup") {
		t.Errorf("message %q speaks of a backup", got)
	}
	if exitCode(err, true) != exitInterrupted {
		t.Errorf("exit code %d", exitCode(err, true))
	}
}
