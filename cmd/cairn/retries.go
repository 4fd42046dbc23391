package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// retryCounter counts the storage requests the retry decorator retried in
// this run, so the backup, restore and check summaries can say that the
// storage was struggling even when every request finally succeeded.
type retryCounter struct {
	n atomic.Int64
}

// onRetry returns the backends.Options.OnRetry hook: it always counts,
// and with verbose also prints each retry to stderr.
func (a *app) onRetry(verbose bool) func(op, name string, attempt int, err error, wait time.Duration) {
	return func(op, name string, attempt int, err error, wait time.Duration) {
		a.retries.n.Add(1)
		if verbose {
			fmt.Fprintf(a.stderr, "cairn: retrying %s %s in %s (attempt %d failed: %s)\n",
				op, name, wait.Round(time.Millisecond), attempt, oneLine(err.Error()))
		}
	}
}

// printRetries writes "N storage requests retried" after a summary when
// any request was retried.
func (a *app) printRetries(w io.Writer) {
	switch n := a.retries.n.Load(); {
	case n == 1:
		fmt.Fprintln(w, "1 storage request retried")
	case n > 1:
		fmt.Fprintf(w, "%d storage requests retried\n", n)
	}
}
