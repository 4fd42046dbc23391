package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// runsSummary is the --json summary of a run of several jobs.
type runsSummary struct {
	MessageType string       `json:"message_type"` // "summary"
	OK          bool         `json:"ok"`
	ExitCode    int          `json:"exit_code"`
	Jobs        []runSummary `json:"jobs"`
}

// selectJobs resolves job and group names (or --all) to the jobs to run,
// in order and each once. Every name is checked before any job runs.
func selectJobs(cfg *fileConfig, args []string, all bool) ([]string, error) {
	switch {
	case all && len(args) > 0:
		return nil, errors.New("run: give job names or --all, not both")
	case all:
		if len(cfg.Jobs) == 0 {
			return nil, unknownJobError(cfg, "--all")
		}
		return sortedKeys(cfg.Jobs), nil
	case len(args) == 0:
		return nil, errors.New("run: name a job or a group, or give --all; cairn config show lists them")
	}
	var names []string
	for _, arg := range args {
		var these []string
		if _, ok := cfg.Jobs[arg]; ok {
			these = []string{arg}
		} else if g, ok := cfg.Groups[arg]; ok {
			these = g
		} else {
			return nil, unknownJobError(cfg, arg)
		}
		for _, n := range these {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names, nil
}

// exitSeverity orders exit codes from best to worst: a partial backup is
// better than an error, an interruption worst.
func exitSeverity(code int) int {
	switch code {
	case exitOK:
		return 0
	case exitPartial:
		return 1
	case exitInterrupted:
		return 1000
	}
	return 2 + code
}

func worseExit(a, b int) int {
	if exitSeverity(b) > exitSeverity(a) {
		return b
	}
	return a
}

// multiJobError is the failure of several jobs: its message lists them
// all, and it unwraps to the worst one, which decides the exit code.
type multiJobError struct {
	errs  []error
	worst error
}

func (e *multiJobError) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return fmt.Sprintf("%d jobs failed:\n%s", len(e.errs), strings.Join(msgs, "\n"))
}

func (e *multiJobError) Unwrap() error { return e.worst }

func jobsError(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	worst := errs[0]
	for _, err := range errs[1:] {
		if exitSeverity(exitCode(err, false)) > exitSeverity(exitCode(worst, false)) {
			worst = err
		}
	}
	return &multiJobError{errs: errs, worst: worst}
}

func printRunsLine(w io.Writer, sums []runSummary) {
	var failed []string
	for _, s := range sums {
		if !s.OK {
			failed = append(failed, s.Job)
		}
	}
	if len(failed) == 0 {
		fmt.Fprintf(w, "%d jobs done\n", len(sums))
		return
	}
	fmt.Fprintf(w, "%d jobs: %d done, %d FAILED (%s)\n", len(sums), len(sums)-len(failed), len(failed), strings.Join(failed, ", "))
}
