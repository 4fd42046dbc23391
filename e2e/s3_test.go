package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/e2e/miniotest"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestS3 runs the S3 scenarios against one real MinIO server, each in its
// own bucket.
func TestS3(t *testing.T) {
	srv := miniotest.Start(t)
	bin := cairnBin(t)
	root := func(t *testing.T, bucket, password string) *client {
		srv.MakeBucket(t, bucket)
		return newClient(t, bin, srv.URL(bucket, "repo"), password).
			with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
	}

	t.Run("RoundTripAndDisasterRecovery", func(t *testing.T) {
		src := t.TempDir()
		makeTree(t, src, 1, 40)
		a := root(t, "roundtrip", "pass-a")
		a.ok("init")
		a.ok("backup", src)
		snaps := snapshotsJSON(t, a)
		if len(snaps) != 1 {
			t.Fatalf("want 1 snapshot, got %d", len(snaps))
		}
		if out := a.ok("ls", "latest"); !strings.Contains(out, filepath.Join(src, "a", "b", "c")) {
			t.Fatalf("ls does not list the nested directory:\n%s", out)
		}
		target := t.TempDir()
		a.ok("restore", "latest", "--target", target)
		compareTrees(t, src, filepath.Join(target, src))

		// Disaster: a new machine with only URL, credentials and passphrase.
		fresh := newClient(t, bin, a.repo, "pass-a").
			with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
		target2 := t.TempDir()
		fresh.ok("restore", snaps[0].ID, "--target", target2)
		compareTrees(t, src, filepath.Join(target2, src))
		fresh.ok("verify", "latest", "--against", src)

		if r := fresh.with("CAIRN_PASSWORD", "wrong").run("snapshots"); r.code != 12 {
			t.Fatalf("wrong passphrase: exit %d, want 12\n%s", r.code, r.stderr)
		}
		missing := newClient(t, bin, srv.URL("no-such-bucket", ""), "x").
			with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
		if r := missing.run("snapshots"); r.code != 10 {
			t.Fatalf("missing repository: exit %d, want 10\n%s", r.code, r.stderr)
		}
	})

	t.Run("SharedRepositoryConcurrentBackups", func(t *testing.T) {
		a := root(t, "shared", "alice-pass")
		a.ok("init")
		pwFile := filepath.Join(t.TempDir(), "bob")
		if err := os.WriteFile(pwFile, []byte("bob-pass\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		a.ok("key", "add", "--new-password-file", pwFile)
		b := newClient(t, bin, a.repo, "bob-pass").
			with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)

		common := t.TempDir()
		makeTree(t, common, 2, 30)
		a.ok("backup", common)
		before := bucketSize(t, srv, "shared")

		// Bob has a copy of the same data elsewhere, plus data of his own;
		// Alice backs up something new at the same moment.
		bobTree := t.TempDir()
		copyTree(t, common, filepath.Join(bobTree, "copy"))
		aliceNew := t.TempDir()
		makeTree(t, aliceNew, 3, 20)
		var wg sync.WaitGroup
		var ra, rb result
		wg.Add(2)
		go func() { defer wg.Done(); ra = a.run("backup", aliceNew) }()
		go func() { defer wg.Done(); rb = b.run("backup", filepath.Join(bobTree, "copy")) }()
		wg.Wait()
		if ra.code != 0 || rb.code != 0 {
			t.Fatalf("concurrent backups: alice exit %d (%s), bob exit %d (%s)", ra.code, ra.stderr, rb.code, rb.stderr)
		}
		after := bucketSize(t, srv, "shared")
		aliceAdded := treeSize(t, aliceNew)
		bobAdded := after - before - aliceAdded
		if limit := treeSize(t, common) / 10; bobAdded > limit {
			t.Fatalf("bob's backup of data alice already stored added about %d bytes, more than 10%% (%d)", bobAdded, limit)
		}
		for _, c := range []struct {
			cl   *client
			path string
		}{{a, aliceNew}, {b, filepath.Join(bobTree, "copy")}} {
			target := t.TempDir()
			c.cl.ok("restore", "latest", "--path", c.path, "--target", target)
			compareTrees(t, c.path, filepath.Join(target, c.path))
		}
	})

	t.Run("AppendOnlyCredentials", func(t *testing.T) {
		admin := root(t, "appendonly", "pw")
		admin.ok("init")
		srv.AddUser(t, "backupbot", "backupbot-secret", miniotest.AppendOnlyPolicy("appendonly"))
		bot := newClient(t, bin, admin.repo, "pw").
			with("AWS_ACCESS_KEY_ID", "backupbot").with("AWS_SECRET_ACCESS_KEY", "backupbot-secret")
		src := t.TempDir()
		makeTree(t, src, 4, 10)
		bot.ok("backup", src)
		makeTree(t, filepath.Join(src, "more"), 5, 5)
		bot.ok("backup", src)
		snaps := snapshotsJSON(t, bot)
		if len(snaps) != 2 {
			t.Fatalf("want 2 snapshots, got %d", len(snaps))
		}
		// The compromised client cannot destroy older backups.
		r := bot.run("forget", snaps[0].ID)
		if r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "permission") {
			t.Fatalf("forget with append-only credentials: exit %d, stderr %q", r.code, r.stderr)
		}
		if got := len(snapshotsJSON(t, admin)); got != 2 {
			t.Fatalf("append-only client deleted snapshots: %d left", got)
		}
		// The privileged credential can.
		admin.ok("forget", snaps[0].ID, "--prune")
		admin.ok("check", "--read-data")
		target := t.TempDir()
		admin.ok("restore", "latest", "--target", target)
		compareTrees(t, src, filepath.Join(target, src))
	})

	t.Run("FaultInjection", func(t *testing.T) {
		srv.MakeBucket(t, "faults")
		proxy := newFaultProxy(t, srv.Endpoint, 42, 0.15)
		url := strings.Replace(srv.URL("faults", "repo"), srv.Endpoint, proxy.Endpoint(), 1)
		c := newClient(t, bin, url, "pw").
			with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
		proxy.enabled.Store(false)
		c.ok("init")
		proxy.enabled.Store(true)
		src := t.TempDir()
		makeTree(t, src, 6, 40)
		for i := range 3 {
			makeTree(t, filepath.Join(src, fmt.Sprint("round", i)), uint64(10+i), 10)
			r := c.run("backup", src)
			if r.code != 0 && (r.code != 1 || strings.TrimSpace(r.stderr) == "") {
				t.Fatalf("backup under faults: exit %d without a clear error:\n%s", r.code, r.stderr)
			}
			t.Logf("backup %d under faults: exit %d", i, r.code)
		}
		t.Logf("faults injected: %v", proxy.Counts())
		if len(proxy.Counts()) == 0 {
			t.Fatal("the proxy injected no faults")
		}
		proxy.enabled.Store(false)
		c.ok("backup", src)
		c.ok("check")
		target := t.TempDir()
		c.ok("restore", "latest", "--target", target)
		compareTrees(t, src, filepath.Join(target, src))
	})

	t.Run("RunYAMLJob", func(t *testing.T) {
		srv.MakeBucket(t, "yamljob")
		home := t.TempDir()
		src := filepath.Join(home, "Documents")
		makeTree(t, src, 7, 10)
		cfg := fmt.Sprintf(`repositories:
  minio:
    url: %s
    password-command: echo job-pass
    env: {AWS_ACCESS_KEY_ID: "${TEST_MINIO_KEY}", AWS_SECRET_ACCESS_KEY: "${TEST_MINIO_SECRET}"}
jobs:
  nightly:
    repository: minio
    paths: [~/Documents]
    exclude: ["*.tmp"]
    tags: [nightly]
    keep: {last: 2}
    prune: true
    check: {read-data-subset: 50%%}
`, srv.URL("yamljob", "laptop"))
		cfgFile := filepath.Join(home, "cairn.yaml")
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, "scratch.tmp"), []byte("excluded"), 0o644); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, bin, "", "").with("HOME", home).
			with("TEST_MINIO_KEY", srv.RootUser).with("TEST_MINIO_SECRET", srv.RootPassword)
		delete(c.env, "CAIRN_PASSWORD")
		delete(c.env, "CAIRN_REPOSITORY")
		c.ok("--config", cfgFile, "--repo", "minio", "init")
		for range 3 {
			out := c.ok("--config", cfgFile, "run", "nightly", "--json")
			if !strings.Contains(out, `"summary"`) {
				t.Fatalf("run --json printed no summary:\n%s", out)
			}
		}
		admin := newClient(t, bin, srv.URL("yamljob", "laptop"), "job-pass").
			with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
		if got := len(snapshotsJSON(t, admin)); got != 2 {
			t.Fatalf("keep last 2: %d snapshots left", got)
		}
		if out := admin.ok("ls", "latest"); strings.Contains(out, "scratch.tmp") {
			t.Fatalf("excluded file was backed up:\n%s", out)
		}
	})
}

type snapshotJSON struct {
	ID    string   `json:"id"`
	Paths []string `json:"paths"`
}

func snapshotsJSON(t *testing.T, c *client) []snapshotJSON {
	t.Helper()
	out := c.ok("snapshots", "--json")
	var snaps []snapshotJSON
	if err := json.Unmarshal([]byte(out), &snaps); err != nil {
		t.Fatalf("snapshots --json: %v\n%s", err, out)
	}
	return snaps
}

// bucketSize sums the sizes of every object in bucket, read directly from
// MinIO (not through cairn).
func bucketSize(t *testing.T, srv *miniotest.Server, bucket string) int64 {
	t.Helper()
	mc, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.RootUser, srv.RootPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for obj := range mc.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		n += obj.Size
	}
	return n
}

// copyTree copies regular files and directories (content and mode).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		switch {
		case fi.IsDir():
			return os.MkdirAll(dst, 0o755)
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, b, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
