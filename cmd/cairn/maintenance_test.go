package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// snapshotIDs lists the repository's snapshot IDs, oldest first.
func snapshotIDs(t *testing.T) []string {
	t.Helper()
	var snaps []map[string]any
	if err := json.Unmarshal([]byte(ok(t, "snapshots", "--json")), &snaps); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(snaps))
	for i, s := range snaps {
		ids[i] = s["id"].(string)
	}
	return ids
}

// lastSnapshot backs up args and returns the new snapshot's ID.
func lastSnapshot(t *testing.T, args ...string) string {
	t.Helper()
	out := ok(t, append([]string{"backup", "--json"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum backupSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.SnapshotID == "" {
		t.Fatalf("backup %q: %v\n%s", args, err, out)
	}
	return sum.SnapshotID
}

func TestForget(t *testing.T) {
	home := isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pw")
	src, other := filepath.Join(home, "src"), filepath.Join(home, "other")
	os.MkdirAll(src, 0o755)
	os.MkdirAll(other, 0o755)
	writeFile(t, other, "o.txt", "other")
	ok(t, "init", "-q")
	var ids []string
	for i, tag := range []string{"", "", "keep", "", ""} {
		writeFile(t, src, "f.txt", strings.Repeat("x", i+1))
		args := []string{src}
		if tag != "" {
			args = append(args, "--tag", tag)
		}
		ids = append(ids, lastSnapshot(t, args...))
	}
	otherID := lastSnapshot(t, other)

	// By ID: a unique prefix removes exactly that snapshot.
	out := ok(t, "forget", ids[0][:8])
	if !strings.Contains(out, "remove") || !strings.Contains(out, ids[0][:8]) || !strings.Contains(out, "Removed 1 snapshot(s)") {
		t.Errorf("forget by ID:\n%s", out)
	}
	if got := snapshotIDs(t); slices.Contains(got, ids[0]) || len(got) != 5 {
		t.Fatalf("after forget by ID: %v", got)
	}
	fails(t, exitError, "refusing to forget every snapshot", "forget")
	fails(t, exitError, "not both", "forget", ids[1][:8], "--keep-last", "1")
	fails(t, exitError, "snapshot not found", "forget", "ffffffffff")
	fails(t, exitError, "keep within", "forget", "--keep-within", "3 days")

	// Policy, dry run: decisions with their rules, nothing deleted.
	policy := []string{"forget", "--keep-last", "1", "--keep-tag", "keep"}
	out = ok(t, append(policy, "--dry-run")...)
	for _, want := range []string{
		"host=", "keep 2, remove 2", "keep 1, remove 0", // two groups: src and other
		"keep    " + ids[4][:8], "last 1",
		"keep    " + ids[2][:8], "tag keep",
		"remove  " + ids[3][:8], "remove  " + ids[1][:8],
		"keep    " + otherID[:8],
		"Dry run: would remove 2 snapshot(s), keep 3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("forget --dry-run lacks %q:\n%s", want, out)
		}
	}
	if got := snapshotIDs(t); len(got) != 5 {
		t.Fatalf("forget --dry-run removed snapshots: %v", got)
	}
	var sum forgetSummary
	if err := json.Unmarshal([]byte(ok(t, append(policy, "--dry-run", "--json")...)), &sum); err != nil {
		t.Fatal(err)
	}
	slices.Sort(sum.Removed)
	wantRemoved := []string{ids[1], ids[3]}
	slices.Sort(wantRemoved)
	if !sum.DryRun || len(sum.Groups) != 2 || !slices.Equal(sum.Removed, wantRemoved) || len(sum.Kept) != 3 {
		t.Errorf("forget --dry-run --json: %+v", sum)
	}
	for _, g := range sum.Groups {
		for _, s := range g.Snapshots {
			if s.Keep != (len(s.Reasons) > 0) {
				t.Errorf("snapshot %s: keep %v with reasons %q", s.ShortID, s.Keep, s.Reasons)
			}
		}
	}

	// The real run leaves what the dry run promised.
	ok(t, policy...)
	got := snapshotIDs(t)
	want := []string{ids[2], ids[4], otherID}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("after forget %v: snapshots %v, want %v", policy, got, want)
	}
	// --host narrows the policy to nothing here.
	if out := ok(t, "forget", "--keep-last", "1", "--host", "elsewhere"); !strings.Contains(out, "No snapshots match") {
		t.Errorf("forget --host elsewhere:\n%s", out)
	}
}

func TestForgetPruneCheckRestore(t *testing.T) {
	home := isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	makeSmallTree(t, src)
	ok(t, "init", "-q", "--pack-size", "1M")
	ok(t, "backup", src)
	big := make([]byte, 2<<20)
	rand.NewChaCha8([32]byte{2}).Read(big)
	os.WriteFile(filepath.Join(src, "docs", "deep", "random.bin"), big, 0o644)
	ok(t, "backup", src)

	out := ok(t, "prune", "--dry-run")
	if !strings.Contains(out, "Dry run: nothing was written or deleted") {
		t.Errorf("prune --dry-run:\n%s", out)
	}
	var sum forgetSummary
	if err := json.Unmarshal([]byte(lastLine(ok(t, "forget", "--keep-last", "1", "--prune", "--json"))), &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Removed) != 1 || sum.Prune == nil || sum.Prune.PacksDeleted == 0 || sum.Prune.BytesFreed < 3<<20 {
		t.Errorf("forget --prune --json: %+v, prune %+v", sum, sum.Prune)
	}
	out = ok(t, "check", "--read-data")
	if !strings.Contains(out, "no errors") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("check --read-data after prune:\n%s", out)
	}
	target := filepath.Join(home, "restore")
	ok(t, "restore", "latest", "--target", target)
	sameTree(t, src, filepath.Join(target, src))

	out = ok(t, "prune", "--repack-threshold", "0.3", "--max-repack", "1M", "--grace", "1d")
	if !strings.Contains(out, "Deleted:") || !strings.Contains(out, "Pruned in") {
		t.Errorf("prune:\n%s", out)
	}
	fails(t, exitError, "--repack-threshold", "prune", "--repack-threshold", "2")
	fails(t, exitError, "--grace", "prune", "--grace", "soon")
}

func TestCheckCorruptPack(t *testing.T) {
	home := isolate(t)
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	makeSmallTree(t, src)
	ok(t, "init", "-q", "--pack-size", "1M")
	ok(t, "backup", src)

	// Flip one byte in the middle of the largest pack: random.bin's data.
	var victim string
	var size int64
	filepath.WalkDir(filepath.Join(repoDir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, _ := d.Info(); info.Size() > size {
				victim, size = p, info.Size()
			}
		}
		return nil
	})
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x01
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}

	if out := ok(t, "check"); !strings.Contains(out, "no errors") {
		t.Errorf("check without --read-data:\n%s", out)
	}
	damaged := filepath.Join(src, "docs", "deep", "random.bin")
	r := cairn(t, "check", "--read-data")
	if r.code != exitError || !strings.Contains(r.stdout, "error: ") || !strings.Contains(r.stdout, filepath.Base(victim)) ||
		!strings.Contains(r.stdout, damaged+"\n") || strings.Contains(r.stdout, "hello.txt") ||
		!strings.Contains(r.stderr, "check found") {
		t.Errorf("check --read-data: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = cairn(t, "check", "--read-data-subset", "100%", "--json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var sum checkSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || r.code != exitError {
		t.Fatalf("check --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if sum.OK || len(sum.DamagedPacks) != 1 || !strings.HasPrefix(filepath.Base(victim), sum.DamagedPacks[0][:8]) ||
		!slices.ContainsFunc(sum.Affected, func(a affectedJSON) bool { return a.Path == damaged }) {
		t.Errorf("check --json: %+v", sum)
	}
	fails(t, exitError, "--read-data-subset", "check", "--read-data-subset", "0/3")
}

// TestLeaseFailureExitsEleven: a repository that refuses the lease object
// stops a backup before it adds data, with exit status 11.
func TestLeaseFailureExitsEleven(t *testing.T) {
	home := isolate(t)
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	os.MkdirAll(src, 0o755)
	writeFile(t, src, "a", "a")
	ok(t, "init", "-q")
	// A file where the leases directory should be: even root cannot
	// write below it.
	os.RemoveAll(filepath.Join(repoDir, "leases"))
	writeFile(t, repoDir, "leases", "not a directory")
	fails(t, exitLocked, "could not write or renew the lease", "backup", src)
	fails(t, exitLocked, "lease", "prune")
	if got := snapshotIDs(t); len(got) != 0 {
		t.Errorf("backup without a lease saved %v", got)
	}
}

// appendOnly refuses every delete, as append-only credentials do.
type appendOnly struct{}

func (appendOnly) DeleteObject(_ context.Context, kind string, id crypto.ID) error {
	return fmt.Errorf("%w: delete %s/%s", storage.ErrPermission, kind, id)
}

func TestForgetAppendOnly(t *testing.T) {
	err := forgetSnapshots(t.Context(), appendOnly{}, []crypto.ID{{1}})
	if !errors.Is(err, storage.ErrPermission) || exitCode(err, false) != exitError {
		t.Fatalf("forget with append-only credentials: %v (exit %d)", err, exitCode(err, false))
	}
	line := errorLine(err, false)
	for _, want := range []string{"permission", "append-only", "run cairn forget from a machine with a privileged credential"} {
		if !strings.Contains(line, want) {
			t.Errorf("error line %q lacks %q", line, want)
		}
	}
}
