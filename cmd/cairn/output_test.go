package main

import (
	"testing"
	"time"
)

func TestFormatting(t *testing.T) {
	bytes := []struct {
		in   uint64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {3 << 19, "1.5 MiB"}, {5 << 30, "5.0 GiB"}}
	for _, tc := range bytes {
		if got := formatBytes(tc.in); got != tc.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
	elapsed := []struct {
		in   time.Duration
		want string
	}{{0, "0:00"}, {7 * time.Second, "0:07"}, {754 * time.Second, "12:34"}, {3723 * time.Second, "1:02:03"}}
	for _, tc := range elapsed {
		if got := formatElapsed(tc.in); got != tc.want {
			t.Errorf("formatElapsed(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	durations := []struct {
		in   time.Duration
		want string
	}{{15 * time.Millisecond, "15ms"}, {1500 * time.Millisecond, "1.5s"}, {184 * time.Second, "3m04s"}, {125 * time.Minute, "2h05m"}}
	for _, tc := range durations {
		if got := formatDuration(tc.in); got != tc.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	names := []struct{ in, want string }{{"plain name", "plain name"}, {"odd\nname", `odd\nname`}, {"tab\there", `tab\there`}, {"bell\a", `bell\x07`}, {"café", "café"}}
	for _, tc := range names {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := eta(50, 100, 10*time.Second); got != "ETA 10.0s" {
		t.Errorf("eta = %q", got)
	}
	if got := eta(0, 100, 10*time.Second); got != "" {
		t.Errorf("eta without progress = %q", got)
	}
}
