package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRetriesCounted: the OnRetry hook resolve installs counts every
// retry, prints each one only with -v, and the summary line appears only
// when something was retried.
func TestRetriesCounted(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		isolate(t)
		args := []string{"--repo", "/r"}
		if verbose {
			args = append(args, "-v")
		}
		a, out, errb := testApp(t, args...)
		s, err := a.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if s.backend.OnRetry == nil {
			t.Fatalf("verbose=%v: no OnRetry hook; retries would not be counted", verbose)
		}
		a.printRetries(out)
		if out.Len() != 0 {
			t.Errorf("verbose=%v: %q printed with no retries", verbose, out.String())
		}
		for range 3 {
			s.backend.OnRetry("get", "data/ab/abcd", 1, errors.New("503 SlowDown"), time.Second)
		}
		a.printRetries(out)
		if got := out.String(); got != "3 storage requests retried\n" {
			t.Errorf("verbose=%v: summary %q, want \"3 storage requests retried\"", verbose, got)
		}
		printed := strings.Count(errb.String(), "cairn: retrying get data/ab/abcd")
		if want := map[bool]int{false: 0, true: 3}[verbose]; printed != want {
			t.Errorf("verbose=%v: %d retries printed to stderr, want %d:\n%s", verbose, printed, want, errb.String())
		}
	}
}
