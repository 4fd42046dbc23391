package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/e2e/miniotest"
)

// TestS3RememberedRegion: with no --s3-region, the first open of a
// location probes the bucket's region and remembers it, and later opens
// use it (skipping the probe, a round trip).
func TestS3RememberedRegion(t *testing.T) {
	srv := miniotest.Start(t)
	bin := cairnBin(t)
	srv.MakeBucket(t, "region")
	c := newClient(t, bin, srv.URL("region", "repo"), "pw").
		with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
	c.ok("init")
	c.ok("snapshots")
	files, err := filepath.Glob(filepath.Join(c.env["HOME"], ".local", "state", "cairn", "locations", "*", "region"))
	if err != nil || len(files) != 1 {
		t.Fatalf("remembered regions: %v %v", files, err)
	}
	got, err := os.ReadFile(files[0])
	if err != nil || strings.TrimSpace(string(got)) != "us-east-1" {
		t.Fatalf("remembered region %q, %v; want us-east-1", got, err)
	}
	// The next open uses it (no probe) and works against the real server;
	// a stale one is covered by cmd/cairn's TestStaleRememberedRegion.
	c.ok("snapshots")
}
