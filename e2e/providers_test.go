package e2e

import (
	"path/filepath"
	"testing"

	"github.com/cairn-backup/cairn/e2e/miniotest"
	"github.com/cairn-backup/cairn/e2e/versitygw"
)

// TestProviders is the provider matrix: the main flows (init, two backups,
// exact restore, check --read-data, forget --prune) against every S3
// implementation the suite can run here. What one server tolerates another
// may reject, so passing on MinIO alone proves little.
func TestProviders(t *testing.T) {
	bin := cairnBin(t)

	t.Run("MinIO", func(t *testing.T) {
		srv := miniotest.Start(t)
		srv.MakeBucket(t, "matrix")
		mainFlows(t, newClient(t, bin, srv.URL("matrix", "repo"), "matrix-pass").
			with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword))
	})

	t.Run("VersityGW", func(t *testing.T) {
		srv := versitygw.Start(t)
		srv.MakeBucket(t, "matrix")
		mainFlows(t, newClient(t, bin, srv.URL("matrix", "repo"), "matrix-pass").
			with("AWS_ACCESS_KEY_ID", srv.AccessKey).with("AWS_SECRET_ACCESS_KEY", srv.SecretKey))
	})

	t.Run("B2Like", func(t *testing.T) {
		srv := miniotest.Start(t)
		srv.MakeBucket(t, "matrix")
		proxy := newB2Proxy(t, srv.Endpoint)
		mainFlows(t, newClient(t, bin, proxy.URL("matrix", "repo"), "matrix-pass").
			with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword))
		if n := proxy.requests.Load(); n == 0 {
			t.Fatal("no request went through the B2-like proxy")
		}
		t.Logf("B2-like proxy: %d requests, %d rejected for checksum headers, %d GetBucketLocation refused",
			proxy.requests.Load(), proxy.checksumRejected.Load(), proxy.locationRefused.Load())
	})
}

// mainFlows runs the flows every provider must support on an empty
// repository reached by c, and checks each outcome.
func mainFlows(t *testing.T, c *client) {
	t.Helper()
	c.ok("init")
	src := t.TempDir()
	makeTree(t, src, 31, 30)
	c.ok("backup", src)
	makeTree(t, filepath.Join(src, "second"), 32, 12)
	c.ok("backup", src)
	snaps := snapshotsJSON(t, c)
	if len(snaps) != 2 {
		t.Fatalf("want 2 snapshots after two backups, got %d", len(snaps))
	}

	target := t.TempDir()
	c.ok("restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
	c.ok("check", "--read-data")

	c.ok("forget", snaps[0].ID, "--prune")
	if left := snapshotsJSON(t, c); len(left) != 1 || left[0].ID != snaps[1].ID {
		t.Fatalf("after forget --prune of %s: snapshots %v, want only %s", snaps[0].ID, left, snaps[1].ID)
	}
	c.ok("check", "--read-data")
	target = t.TempDir()
	c.ok("restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
}
