package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// JSON output of long-running commands (backup, restore, verify, run) with
// --json: one JSON object per line on stdout, each with "message_type":
//
//	{"message_type":"status", ...}   about once a second while running;
//	                                 fields depend on the command (backupStatus,
//	                                 restoreStatus below)
//	{"message_type":"summary", ...}  once at the end (backupSummary,
//	                                 restoreSummary, verifySummary, runSummary)
//
// Warnings and errors always go to stderr as text, so stdout stays
// parseable. Field names are snake_case; sizes are bytes and durations are
// seconds (floating point).

// progress shows a running operation: on a terminal, one line on stderr
// rewritten in place; with --json, status lines on stdout; otherwise
// nothing. Warnings go through it so they do not garble the line.
type progress struct {
	stderr io.Writer
	stdout io.Writer
	tty    bool // draw the status line on stderr
	json   bool // write status lines on stdout
	width  func() int

	mu       sync.Mutex
	lastLine time.Time
	lastJSON time.Time
	drawn    bool // a status line is on screen
}

// Status intervals: the library calls about five times a second; JSON
// consumers get one line a second.
const (
	lineInterval = 200 * time.Millisecond
	jsonInterval = time.Second
)

func (a *app) newProgress() *progress {
	p := &progress{stderr: a.stderr, stdout: a.stdout, json: a.v.GetBool("json")}
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !a.v.GetBool("quiet") {
		p.tty = true
		p.width = func() int {
			if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
				return w
			}
			return 80
		}
	}
	return p
}

// active reports whether anything is shown: a terminal line or JSON
// status lines. Commands skip the work behind progress (the backup's scan
// ahead) when nothing would show it.
func (p *progress) active() bool { return p.tty || p.json }

// lineWidth is the terminal's width, or 0 when there is no terminal.
func (p *progress) lineWidth() int {
	if !p.tty {
		return 0
	}
	return p.width()
}

// shortenMiddle fits s into width runes by replacing its middle with "…",
// keeping the start of a path and its file name. A width of 0 or less
// means no limit is known.
func shortenMiddle(s string, width int) string {
	r := []rune(s)
	if width <= 0 || len(r) <= width {
		return s
	}
	if width < 5 {
		return string(r[len(r)-width:])
	}
	head := (width - 1) / 3
	tail := width - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// update shows a status: line on the terminal, status as JSON.
// final forces it out regardless of the intervals.
func (p *progress) update(line func() string, status func() any, final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.tty && (final || now.Sub(p.lastLine) >= lineInterval) {
		p.lastLine = now
		l := line()
		if w := p.width(); len([]rune(l)) >= w {
			l = string([]rune(l)[:max(w-1, 0)])
		}
		fmt.Fprintf(p.stderr, "\r\033[K%s", l)
		p.drawn = true
	}
	if p.json && status != nil && (final || now.Sub(p.lastJSON) >= jsonInterval) {
		p.lastJSON = now
		_ = writeJSON(p.stdout, status())
	}
}

// warn prints a warning about path on stderr, above the status line.
func (p *progress) warn(path string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	if path == "" {
		fmt.Fprintf(p.stderr, "cairn: warning: %s\n", oneLine(err.Error()))
		return
	}
	fmt.Fprintf(p.stderr, "cairn: warning: %s: %s\n", printable(path), oneLine(err.Error()))
}

// done removes the status line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

func (p *progress) clearLocked() {
	if p.drawn {
		fmt.Fprint(p.stderr, "\r\033[K")
		p.drawn = false
	}
}

// oneLine escapes newlines so a message stays on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

// rate renders bytes per second over elapsed.
func rate(bytes uint64, elapsed time.Duration) string {
	if elapsed < 100*time.Millisecond {
		return "-"
	}
	return formatBytes(uint64(float64(bytes)/elapsed.Seconds())) + "/s"
}

// eta estimates the time left from the share done so far, or "" when it
// cannot tell.
func eta(done, total uint64, elapsed time.Duration) string {
	if total == 0 || done == 0 || done >= total || elapsed < time.Second {
		return ""
	}
	left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
	if left < time.Second {
		return "" // "ETA 0ms" says nothing
	}
	return "ETA " + formatDuration(left.Round(time.Second))
}

// verbosity is the -v count: 0, 1 (-v) or 2 (-vv). A config file or
// environment may also say verbose: true, which is 1.
func (a *app) verbosity() int {
	s := strings.TrimSpace(a.v.GetString("verbose"))
	if n, err := strconv.Atoi(s); err == nil {
		return max(n, 0)
	}
	if b, err := strconv.ParseBool(s); err == nil && b {
		return 1
	}
	return 0
}
