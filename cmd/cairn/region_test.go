package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/pkg/state"
	"github.com/cairn-backup/cairn/pkg/storage/s3/s3test"
)

// A region remembered for an S3 location that has become wrong (the
// bucket answers only to eu-central-1) is dropped: the command opens the
// location again as a first contact does, learns the region from the
// server's answer, remembers it, and goes on (here to "no repository",
// since the bucket is empty) instead of failing with a region error.
func TestStaleRememberedRegion(t *testing.T) {
	home := isolate(t)
	srv := s3test.NewRegionLocked(t, "eu-central-1")
	url := "s3+http://" + srv.Listener.Addr().String() + "/bucket/repo"
	base := state.Base(filepath.Join(home, ".local", "state", "cairn"))
	if err := base.Location(url).SetRegion("eu-west-3"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("CAIRN_PASSWORD", "pw")
	r := cairn(t, "--repo", url, "--s3-lookup", "path", "snapshots")
	if r.code != exitNoRepository {
		t.Fatalf("exit %d, stderr %q; want %d (no repository) after dropping the stale region", r.code, r.stderr, exitNoRepository)
	}
	if srv.Wrong.Load() == 0 {
		t.Fatal("test setup: no request was signed for the stale region")
	}
	if got := base.Location(url).Region(); got != "eu-central-1" {
		t.Errorf("remembered region %q, want eu-central-1", got)
	}
	if _, err := os.Stat(filepath.Join(home, ".local", "state", "cairn")); err != nil {
		t.Fatal(err)
	}
}

// init learns the region of the new bucket and remembers it, so that the
// first backup does not ask again.
func TestInitRemembersRegion(t *testing.T) {
	home := isolate(t)
	srv := s3test.NewRegionLocked(t, "eu-central-1")
	url := "s3+http://" + srv.Listener.Addr().String() + "/bucket/repo"
	base := state.Base(filepath.Join(home, ".local", "state", "cairn"))
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("CAIRN_PASSWORD", "pw")
	// The server only pretends to store, so init fails at reading back
	// its config; by then it has learned the region.
	r := cairn(t, "--repo", url, "--s3-lookup", "path", "--retry-for", "2s", "init")
	t.Logf("init: exit %d, stderr %q", r.code, r.stderr)
	if got := base.Location(url).Region(); got != "eu-central-1" {
		t.Errorf("remembered region %q after init, want eu-central-1", got)
	}
}
