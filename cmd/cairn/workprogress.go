package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// work is how far a command that works through a known amount is: check
// --read-data (packs), prune (packs deleted or repacked) and copy
// (snapshots and their packs). Items are what the line counts in unit;
// Bytes go with them, and give the rate. Share, when set (0 < Share <= 1),
// is the fraction done when neither count alone says it (copy: snapshots
// done plus the current one's packs).
type work struct {
	What              string // "check: read data"
	Items, TotalItems uint64
	Unit              string // "packs"
	Bytes, TotalBytes uint64
	Share             float64
	Detail            string // appended as is, e.g. "snapshot 3f2a9c1b"
	NoRate            bool   // the bytes are not moved (deleted), so no rate
	Current           string // the snapshot being worked on, for --json
	Elapsed           time.Duration
}

// fraction is the share done, from Share, the bytes or the items (in that
// order), and whether it is known at all.
func (w work) fraction() (float64, bool) {
	switch {
	case w.Share > 0:
		return min(w.Share, 1), true
	case w.TotalBytes > 0:
		return min(float64(w.Bytes)/float64(w.TotalBytes), 1), true
	case w.TotalItems > 0:
		return min(float64(w.Items)/float64(w.TotalItems), 1), true
	}
	return 0, false
}

// line renders the terminal status line:
//
//	[0:12] check: read data 12/40 packs, 1.2 GiB/4.0 GiB, 30.0%, 102.4 MiB/s, ETA 28s
func (w work) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s %d", formatElapsed(w.Elapsed), w.What, w.Items)
	if w.TotalItems > 0 {
		fmt.Fprintf(&b, "/%d", w.TotalItems)
	}
	if w.Unit != "" {
		b.WriteString(" " + w.Unit)
	}
	if w.Detail != "" {
		b.WriteString(" " + w.Detail)
	}
	if w.Bytes > 0 || w.TotalBytes > 0 {
		b.WriteString(", " + formatBytes(w.Bytes))
		if w.TotalBytes > 0 {
			b.WriteString("/" + formatBytes(w.TotalBytes))
		}
	}
	f, known := w.fraction()
	if known {
		fmt.Fprintf(&b, ", %.1f%%", 100*f)
	}
	if w.Bytes > 0 && !w.NoRate {
		b.WriteString(", " + rate(w.Bytes, w.Elapsed))
	}
	if known {
		// eta takes counts: the fraction in parts per million.
		if e := eta(uint64(f*1e6), 1e6, w.Elapsed); e != "" {
			b.WriteString(", " + e)
		}
	}
	return b.String()
}

// workStatus is the --json status line of check --read-data, prune and
// copy. Totals are 0 where they are not known.
type workStatus struct {
	MessageType    string  `json:"message_type"` // "status"
	Stage          string  `json:"stage"`
	Done           uint64  `json:"done"`
	Total          uint64  `json:"total"`
	Unit           string  `json:"unit,omitempty"`
	BytesDone      uint64  `json:"bytes_done"`
	TotalBytes     uint64  `json:"total_bytes"`
	PercentDone    float64 `json:"percent_done"` // 0 to 100; 0 while unknown
	Current        string  `json:"current,omitempty"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

func (w work) status(stage string) workStatus {
	f, _ := w.fraction()
	return workStatus{MessageType: "status", Stage: stage, Done: w.Items, Total: w.TotalItems, Unit: w.Unit,
		BytesDone: w.Bytes, TotalBytes: w.TotalBytes, PercentDone: 100 * f, Current: w.Current, ElapsedSeconds: w.Elapsed.Seconds()}
}

// printLine prints line on stderr, above the status line.
func (p *progress) printLine(line string) { p.printTo(p.stderr, line) }

// printTo prints line on w (stdout or stderr), clearing the status line
// first so that the two do not share a line on a terminal.
func (p *progress) printTo(w io.Writer, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintln(w, line)
}

// show puts w on p: the line on a terminal, the status in --json mode.
// final shows it whatever the intervals: commands pass true at the start
// of a stage (or a snapshot), so a JSON reader sees every one begin.
func (p *progress) show(w work, stage string, final bool) {
	p.update(w.line, func() any { return w.status(stage) }, final)
}
