package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/check"
	snapcopy "github.com/cairn-backup/cairn/pkg/copy"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/prune"
)

func TestWorkLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    work
		want string
	}{
		{"read data", work{What: "check: read data", Items: 10, TotalItems: 40, Unit: "packs", Bytes: 1 << 30, TotalBytes: 4 << 30, Elapsed: 10 * time.Second},
			"[0:10] check: read data 10/40 packs, 1.0 GiB/4.0 GiB, 25.0%, 102.4 MiB/s, ETA 30.0s"},
		{"start", work{What: "check: read data", TotalItems: 40, Unit: "packs", TotalBytes: 4 << 30},
			"[0:00] check: read data 0/40 packs, 0 B/4.0 GiB, 0.0%"},
		{"no totals", work{What: "check: index", Items: 3, Elapsed: time.Second}, "[0:01] check: index 3"},
		{"deleting", work{What: "prune: delete", Items: 5, TotalItems: 20, Unit: "packs", Bytes: 5 << 20, TotalBytes: 20 << 20, NoRate: true, Elapsed: 2 * time.Second},
			"[0:02] prune: delete 5/20 packs, 5.0 MiB/20.0 MiB, 25.0%, ETA 6.0s"},
		{"share", work{What: "copy:", Items: 1, TotalItems: 4, Unit: "snapshots", Detail: "(3f2a9c1b: 5/10 packs)", Bytes: 1 << 20, Share: 0.375, Elapsed: 30 * time.Second},
			"[0:30] copy: 1/4 snapshots (3f2a9c1b: 5/10 packs), 1.0 MiB, 37.5%, 34.1 KiB/s, ETA 50.0s"},
		{"almost done: no ETA under a second", work{What: "check: read data", Items: 99, TotalItems: 100, Unit: "packs", Elapsed: 10 * time.Second},
			"[0:10] check: read data 99/100 packs, 99.0%"},
		{"done", work{What: "check: read data", Items: 40, TotalItems: 40, Unit: "packs", Bytes: 4 << 30, TotalBytes: 4 << 30, Elapsed: 40 * time.Second},
			"[0:40] check: read data 40/40 packs, 4.0 GiB/4.0 GiB, 100.0%, 102.4 MiB/s"},
	} {
		if got := tc.w.line(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	st := work{What: "check: read data", Items: 1, TotalItems: 4, Unit: "packs", Bytes: 10, TotalBytes: 40}.status("read data")
	if st.MessageType != "status" || st.Stage != "read data" || st.Done != 1 || st.Total != 4 || st.BytesDone != 10 || st.TotalBytes != 40 || st.PercentDone != 25 {
		t.Errorf("status %+v", st)
	}
}

func TestStageWork(t *testing.T) {
	c := checkProgress{stage: check.StageReadData, read: check.ReadProgress{Packs: 2, TotalPacks: 8, Bytes: 2 << 20, TotalBytes: 8 << 20}}
	if got := c.work(2 * time.Second).line(); !strings.Contains(got, "read data 2/8 packs, 2.0 MiB/8.0 MiB, 25.0%") {
		t.Errorf("check line %q", got)
	}
	pw := pruneWork(prune.Progress{Stage: prune.StageRepack, Packs: 1, TotalPacks: 2, Bytes: 1 << 20, TotalBytes: 4 << 20}, time.Second)
	if got := pw.line(); !strings.Contains(got, "prune: repack 1/2 packs, 1.0 MiB/4.0 MiB, 25.0%, 1.0 MiB/s") {
		t.Errorf("repack line %q", got)
	}
	id := crypto.ID{0x3f, 0x2a}
	cw := copyWork(snapcopy.Progress{Snapshots: 1, TotalSnapshots: 2, Current: id, Packs: 1, TotalPacks: 4, Bytes: 1 << 20}, time.Second)
	if got := cw.line(); !strings.Contains(got, "copy: 1/2 snapshots ("+id.Short()+": 1/4 packs), 1.0 MiB, 62.5%") {
		t.Errorf("copy line %q", got)
	}
	if cw.status("copy").Current != id.String() {
		t.Errorf("copy status lacks the current snapshot: %+v", cw.status("copy"))
	}
}

func TestInterruptMessages(t *testing.T) {
	cancelled := fmt.Errorf("x: %w", context.Canceled)
	for name, tc := range map[string]struct {
		err  error
		want []string
	}{
		"check": {checkProgress{stage: check.StageReadData, read: check.ReadProgress{Packs: 3, TotalPacks: 10, Bytes: 3 << 20, TotalBytes: 10 << 20}}.interrupted(cancelled),
			[]string{"check interrupted while reading data: 3 of 10 packs (3.0 MiB of 10.0 MiB) were read and checked, 7 are left", "nothing in the repository was changed", "Run the same command again"}},
		"prune": {pruneInterrupted(&prune.Stats{PacksDeleted: 4, BytesFreed: 4 << 20, Markers: 1, PacksCondemned: 9}, cancelled),
			[]string{"prune interrupted: 4 pack(s) were deleted so far (4.0 MiB freed) and 9 pack(s) were marked", "the repository is consistent", "Run prune again to continue"}},
		"prune before": {pruneInterrupted(&prune.Stats{}, cancelled), []string{"nothing was deleted yet"}},
		"copy": {copyInterrupted(&snapcopy.Result{Copied: make([]snapcopy.Copied, 2)}, snapcopy.Progress{Snapshots: 2, TotalSnapshots: 5, Current: crypto.ID{1}}, cancelled),
			[]string{"copy interrupted: 2 snapshot(s) were copied and are complete", "snapshot " + crypto.ID{1}.Short() + " was being copied and was not saved", "3 of the 5 selected are left", "skips the snapshots already copied"}},
	} {
		if !errors.Is(tc.err, context.Canceled) || exitCode(tc.err, true) != exitInterrupted {
			t.Errorf("%s: does not wrap the cancellation: %v", name, tc.err)
		}
		line := errorLine(tc.err, true)
		for _, w := range tc.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: %q lacks %q", name, line, w)
			}
		}
		if strings.Contains(line, "backup") {
			t.Errorf("%s: speaks of a backup: %q", name, line)
		}
	}
}

// cancelOn is stdout for an in-process run: it cancels the run's context
// when a --json status line matching want is written, as Ctrl-C would at
// that moment.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	want   func(workStatus) bool
	cancel context.CancelFunc
	fired  bool
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var st workStatus
	if !c.fired && json.Unmarshal(p, &st) == nil && st.MessageType == "status" && c.want(st) {
		c.fired = true
		c.cancel()
	}
	return c.buf.Write(p)
}

// interrupt runs cairn with args and cancels it at the first status line
// want accepts; the run must exit 130 with a message containing text.
func interrupt(t *testing.T, want func(workStatus) bool, text string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &cancelOn{want: want, cancel: cancel}
	var errb bytes.Buffer
	code := execute(ctx, append([]string{"--json"}, args...), strings.NewReader(""), out, &errb)
	if !out.fired {
		t.Fatalf("cairn %s never reached the point to interrupt:\n%s\n%s", strings.Join(args, " "), out.buf.String(), errb.String())
	}
	if code != exitInterrupted || !strings.Contains(errb.String(), text) {
		t.Fatalf("interrupted cairn %s: exit %d, stderr:\n%s\nwant exit 130 and %q", strings.Join(args, " "), code, errb.String(), text)
	}
	if n := strings.Count(strings.TrimSpace(errb.String()), "\n"); n != 0 || strings.Contains(errb.String(), "backup") {
		t.Errorf("interrupt message is not the command's own one line:\n%s", errb.String())
	}
	t.Logf("cairn %s, interrupted:\n%s", strings.Join(args, " "), errb.String())
	return errb.String()
}

// TestInterruptedCheckPruneCopy: Ctrl-C during check --read-data, prune and
// copy prints each command's own account and exits 130; running the
// command again finishes the work.
func TestInterruptedCheckPruneCopy(t *testing.T) {
	home := isolate(t)
	for _, k := range []string{"CAIRN_FROM_REPOSITORY", "CAIRN_FROM_PASSWORD", "CAIRN_FROM_PASSWORD_FILE", "CAIRN_FROM_PASSWORD_COMMAND", "CAIRN_FROM_KEY_HINT"} {
		t.Setenv(k, "")
	}
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	makeSmallTree(t, src)
	ok(t, "init", "-q", "--pack-size", "1M")
	ok(t, "backup", "-q", src)
	if err := os.WriteFile(filepath.Join(src, "docs", "deep", "random.bin"), bytes.Repeat([]byte("other"), 600<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, "backup", "-q", src)

	interrupt(t, func(s workStatus) bool { return s.Stage == string(check.StageReadData) },
		"check interrupted while reading data: 0 of ", "check", "--read-data")
	if out := ok(t, "check", "--read-data"); !strings.Contains(out, "no errors") {
		t.Errorf("check after an interrupted one:\n%s", out)
	}

	// A copy cut when its second snapshot starts.
	dest := filepath.Join(home, "dest")
	t.Setenv("CAIRN_FROM_PASSWORD", "pw")
	ok(t, "-r", dest, "init", "-q", "--copy-chunker-params-from", repoDir)
	msg := interrupt(t, func(s workStatus) bool { return s.Stage == "copy" && s.Done == 1 && s.Current != "" },
		"copy interrupted: 1 snapshot(s) were copied and are complete in the destination", "-r", dest, "copy", "--from-repo", repoDir)
	if !strings.Contains(msg, "1 of the 2 selected are left") {
		t.Errorf("copy message: %s", msg)
	}
	var again copyJSON
	decode(t, ok(t, "-r", dest, "--json", "copy", "--from-repo", repoDir), &again)
	if len(again.Copied) != 1 || len(again.Skipped) != 1 {
		t.Errorf("copy after the interrupted one: %+v", again)
	}

	// A prune cut when it starts deleting.
	ok(t, "forget", "-q", "--keep-last", "1")
	interrupt(t, func(s workStatus) bool { return s.Stage == prune.StageSweep },
		"prune interrupted: 0 pack(s) were deleted so far (0 B freed) and ", "prune")
	if out := ok(t, "check", "--read-data"); !strings.Contains(out, "no errors") {
		t.Errorf("check after an interrupted prune:\n%s", out)
	}
	var sum pruneSummary
	decode(t, ok(t, "--json", "prune"), &sum)
	if sum.PacksDeleted == 0 || sum.MarkersSwept == 0 {
		t.Errorf("prune after the interrupted one: %+v", sum.Stats)
	}
	restored := filepath.Join(home, "restored")
	ok(t, "restore", "-q", "latest", "--target", restored)
	sameTree(t, src, filepath.Join(restored, src))
}
