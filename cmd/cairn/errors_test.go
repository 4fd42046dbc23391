package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/check"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
)

func TestExitCode(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("open repository /x: %w", err) }
	tests := []struct {
		name        string
		err         error
		interrupted bool
		want        int
	}{
		{"success", nil, false, 0},
		{"success after a late signal", nil, true, 0},
		{"plain error", errors.New("boom"), false, 1},
		{"partial backup", &partialError{snapshot: "abcd1234", skipped: 2}, false, 3},
		{"wrapped partial backup", fmt.Errorf("job x: %w", &partialError{skipped: 1}), false, 3},
		{"no repository", wrap(repo.ErrNoRepository), false, 10},
		{"no storage location", wrap(storage.ErrNoRepository), false, 10},
		{"lease", wrap(repo.ErrLease), false, 11},
		{"lease refused by storage", fmt.Errorf("backup: write lease: %w", fmt.Errorf("%w: %w", repo.ErrLease, storage.ErrPermission)), false, 11},
		{"lease write interrupted", wrap(fmt.Errorf("%w: %w", repo.ErrLease, context.Canceled)), true, 130},
		{"wrong passphrase", wrap(crypto.ErrWrongPassphrase), false, 12},
		{"check incomplete", fmt.Errorf("check: %w: 3 object(s) could not be read", check.ErrIncomplete), false, 13},
		{"check incomplete, interrupted", fmt.Errorf("check: %w", check.ErrIncomplete), true, 130},
		{"interrupted", wrap(context.Canceled), true, 130},
		{"any error after a signal", errors.New("read failed"), true, 130},
		{"cancelled without a signal", wrap(context.Canceled), false, 1},
		{"last key", repo.ErrLastKey, false, 1},
		{"verify differences", &differencesError{differences: 1}, false, 1},
	}
	for _, tc := range tests {
		if got := exitCode(tc.err, tc.interrupted); got != tc.want {
			t.Errorf("%s: exitCode = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestErrorLine(t *testing.T) {
	tests := []struct {
		err  error
		want []string
	}{
		{fmt.Errorf("open repository /r: %w", crypto.ErrWrongPassphrase), []string{"cairn: open repository /r: wrong passphrase; check the passphrase"}},
		{fmt.Errorf("key remove ab12: %w", repo.ErrLastKey), []string{"refusing to remove the last key", "; add another key first"}},
		{fmt.Errorf("open repository /r: %w", repo.ErrNoRepository), []string{"cairn init"}},
		{errors.New("read /a/b\nc: denied"), []string{"cairn: read /a/b\n  c: denied"}},
		{errors.New("read /a/\x1b[2Jb: denied"), []string{`/a/\x1b[2Jb`}},
		{errors.Join(errors.New("pack 1: gone"), errors.New("pack 2: gone")), []string{"cairn: pack 1: gone\n  pack 2: gone"}},
		{errors.New("unknown command \"snapshot\" for \"cairn\"\n\nDid you mean this?\n\tsnapshots\n"), []string{"cairn: unknown command \"snapshot\" for \"cairn\"\n  Did you mean this?\n  snapshots\n  run cairn --help"}},
		{errors.New(`unknown command "x" for "cairn"`), []string{"cairn --help"}},
		{fmt.Errorf("backup: %w", storage.ErrPermission), []string{"check the credentials"}},
		{fmt.Errorf("prune: %w", repo.ErrLease), []string{"could not write or renew the lease", "; cairn writes a lease object"}},
	}
	for _, tc := range tests {
		got := errorLine(tc.err, false)
		if !strings.HasPrefix(got, "cairn: ") || strings.Contains(got, "\n\n") || strings.ContainsAny(got, "\r\x1b") {
			t.Errorf("errorLine(%q) = %q: does not start with cairn:, or has a blank line or a control character", tc.err, got)
		}
		for _, l := range strings.Split(got, "\n")[1:] {
			if !strings.HasPrefix(l, "  ") {
				t.Errorf("errorLine(%q): continuation line %q is not indented", tc.err, l)
			}
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("errorLine(%q) = %q, want it to contain %q", tc.err, got, w)
			}
		}
	}
	if got := errorLine(context.Canceled, true); !strings.Contains(got, "interrupted") {
		t.Errorf("interrupted: %q", got)
	}
}

// panicWriter panics on every write, standing in for a bug deep inside a
// command.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("test panic") }

// TestPanicIsOneLine: a panic inside a command becomes one line asking for
// a bug report, and exit status 1, never a stack trace.
func TestPanicIsOneLine(t *testing.T) {
	isolate(t)
	var errb strings.Builder
	code := execute(t.Context(), []string{"completion", "bash"}, strings.NewReader(""), panicWriter{}, &errb)
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	got := errb.String()
	if strings.Count(got, "\n") != 1 || !strings.Contains(got, "internal error: test panic") || !strings.Contains(got, "bug") {
		t.Errorf("stderr %q, want one line reporting the bug", got)
	}
}
