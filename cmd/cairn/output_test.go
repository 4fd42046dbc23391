package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/archiver"
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

func TestShortenMiddle(t *testing.T) {
	for _, tc := range []struct {
		in    string
		width int
		want  string
	}{
		{"/home/ann/docs/report.pdf", 0, "/home/ann/docs/report.pdf"},
		{"/home/ann/docs/report.pdf", 40, "/home/ann/docs/report.pdf"},
		{"/home/ann/docs/2026/taxes/report.pdf", 16, "/home…report.pdf"},
		{"/a/b/c", 3, "b/c"},
	} {
		if got := shortenMiddle(tc.in, tc.width); got != tc.want || (tc.width > 0 && len([]rune(got)) > tc.width) {
			t.Errorf("shortenMiddle(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}

// The backup's status line shows done of total, the percentage and the
// ETA once the scan is complete, and fits the terminal with the file name
// shortened in the middle.
func TestBackupLineTotals(t *testing.T) {
	s := archiver.Progress{Files: 10, Processed: 25 << 20, BytesRead: 25 << 20, BytesNew: 5 << 20, Elapsed: 10 * time.Second,
		TotalFiles: 40, TotalBytes: 100 << 20, TotalsFinal: true, Current: "/home/ann/a/very/long/path/to/some/deep/file.bin"}
	line := backupLine(s, 100)
	for _, want := range []string{"10/40 files", "25.0 MiB/100.0 MiB (25%)", "5.0 MiB new", "ETA 30", "file.bin", "…"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if n := len([]rune(line)); n > 100 {
		t.Errorf("line is %d runes wide, terminal 100: %q", n, line)
	}
	s.TotalsFinal = false
	if line := backupLine(s, 0); !strings.Contains(line, "10/40+ files") || strings.Contains(line, "ETA") || strings.Contains(line, "%") {
		t.Errorf("line before the scan finished: %q", line)
	}
}
