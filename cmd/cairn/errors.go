package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/cairn-backup/cairn/pkg/check"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// Exit codes; main.go's doc comment lists them for users.
const (
	exitOK           = 0
	exitError        = 1
	exitPartial      = 3
	exitNoRepository = 10
	exitLocked       = 11 // could not lock or lease (repo.ErrLease)
	exitWrongPass    = 12
	exitUnreachable  = 13 // check could not read everything (check.ErrIncomplete)
	exitInterrupted  = 130
)

// partialError reports a backup that wrote its snapshot but could not read
// some files. The files were already named on stderr as they failed.
type partialError struct {
	snapshot string // short ID
	skipped  int
}

func (e *partialError) Error() string {
	return fmt.Sprintf("backup: snapshot %s saved, but %d file(s) could not be read (named above); "+
		"fix their permissions or exclude them, then back up again", e.snapshot, e.skipped)
}

// differencesError reports that verify found differences or damage, which
// it has listed on stdout.
type differencesError struct{ differences, damaged int }

func (e *differencesError) Error() string {
	return fmt.Sprintf("verify: %d difference(s) and %d damaged file(s) (listed above); "+
		"restore from another snapshot, or run cairn check", e.differences, e.damaged)
}

// interruptedError carries a command's own account of an interruption:
// what was done, what is left, and what running it again does.
type interruptedError struct {
	msg string
	err error
}

func (e *interruptedError) Error() string { return e.msg }
func (e *interruptedError) Unwrap() error { return e.err }

// exitCode maps the outcome of a command to the process exit code. It is
// the only place that decides exit codes.
func exitCode(err error, interrupted bool) int {
	var partial *partialError
	switch {
	case err == nil:
		return exitOK
	case interrupted:
		// After SIGINT or SIGTERM every failure is a consequence of it
		// (usually context.Canceled surfacing from whatever was running).
		return exitInterrupted
	case errors.As(err, &partial):
		return exitPartial
	case errors.Is(err, repo.ErrNoRepository), errors.Is(err, storage.ErrNoRepository):
		return exitNoRepository
	case errors.Is(err, repo.ErrLease):
		return exitLocked
	case errors.Is(err, crypto.ErrWrongPassphrase):
		return exitWrongPass
	case errors.Is(err, check.ErrIncomplete):
		return exitUnreachable
	}
	return exitError
}

// errorLine renders err as what cairn prints on failure: a first line
// starting "cairn: ", then, for messages of several lines (errors.Join,
// cobra's "Did you mean this?" suggestions), each further line indented by
// two spaces, so no line of a message (a file name with a newline in it,
// say) can pass for a line of its own. Other control characters are
// escaped, and blank lines dropped.
func errorLine(err error, interrupted bool) string {
	var own *interruptedError
	if interrupted && errors.As(err, &own) {
		return "cairn: " + own.msg
	}
	if interrupted {
		return "cairn: interrupted; run the command again to finish (an interrupted backup saves no snapshot, and the next one reuses the data already uploaded)"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command") {
		msg = strings.Replace(msg, "\n\nDid you mean", "\nDid you mean", 1)
		msg += "\nrun cairn --help to list the commands"
	}
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	if !strings.Contains(msg, ";") {
		if hint := errorHint(err); hint != "" {
			if len(lines) == 1 {
				lines[0] += "; " + hint
			} else {
				lines = append(lines, hint)
			}
		}
	}
	var b strings.Builder
	b.WriteString("cairn: ")
	first := true
	for _, l := range lines {
		l = strings.TrimSpace(strings.ReplaceAll(l, "\t", "  "))
		if l == "" {
			continue
		}
		if !first {
			b.WriteString("\n  ")
		}
		first = false
		b.WriteString(escapeControl(l))
	}
	return b.String()
}

// escapeControl replaces control characters other than tab with Go escapes
// (\r, \x1b, …), so an error naming a hostile file cannot move the cursor
// or rewrite the terminal.
func escapeControl(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// errorHint says what to do about the common classes of failure.
func errorHint(err error) string {
	switch {
	case errors.Is(err, crypto.ErrWrongPassphrase):
		return "check the passphrase (CAIRN_PASSWORD, --password-file or --password-command), or use a passphrase that has a key (cairn key list)"
	case errors.Is(err, repo.ErrNoRepository), errors.Is(err, storage.ErrNoRepository):
		return "check --repo (or CAIRN_REPOSITORY), or create a repository there with cairn init"
	case errors.Is(err, repo.ErrAlreadyInitialized):
		return "use it as it is, or choose another location"
	case errors.Is(err, repo.ErrLastKey):
		return "add another key first with cairn key add"
	case errors.Is(err, storage.ErrPermission):
		return "check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the permissions of the repository location"
	case errors.Is(err, storage.ErrTransient):
		return "the storage service is unreachable or overloaded; check the network and try again"
	case errors.Is(err, repo.ErrCorrupt):
		return "run cairn check"
	case errors.Is(err, repo.ErrLease):
		// Checked after the storage classes above, which say more.
		return "cairn writes a lease object before it adds or removes data; check that the storage is reachable and accepts new objects, then try again"
	case errors.Is(err, snapshot.ErrSnapshotNotFound), errors.Is(err, snapshot.ErrAmbiguous):
		return "run cairn snapshots to list them"
	case errors.Is(err, context.DeadlineExceeded):
		return "the operation timed out; try again"
	}
	return ""
}
