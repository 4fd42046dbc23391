package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/e2e/miniotest"
)

// copyResult is the part of cairn copy --json the tests read.
type copyResult struct {
	Mode    string `json:"mode"`
	Copied  []struct{ Source, Destination string }
	Skipped []struct{ Source, Destination string }
	Total   struct {
		DataStored     int `json:"data_stored"`
		DataDeduped    int `json:"data_deduped"`
		FilesRechunked int `json:"files_rechunked"`
	} `json:"total"`
}

func copyJSON(t *testing.T, c *client, args ...string) copyResult {
	t.Helper()
	out := c.ok(append([]string{"--json", "copy"}, args...)...)
	var r copyResult
	// The summary is the last line, after the status lines.
	summary := strings.TrimRight(out, "\n")
	summary = summary[strings.LastIndexByte(summary, '\n')+1:]
	if err := json.Unmarshal([]byte(summary), &r); err != nil {
		t.Fatalf("copy --json: %v\n%s", err, out)
	}
	return r
}

// TestCopyUSBToMinIO is the 3-2-1 routine: a local (USB-style) repository
// copied to MinIO after each backup. The first run copies both snapshots,
// the second nothing; the copies restore exactly and pass check. A bucket
// made with init --copy-chunker-params-from gets blobs as they are, one
// made without has files re-chunked; and the MinIO copy copies back into
// a local repository with the source's S3 credentials given only as
// CAIRN_FROM_AWS_*.
func TestCopyUSBToMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	bin := cairnBin(t)
	usbDir := filepath.Join(t.TempDir(), "usb", "cairn")
	usb := newClient(t, bin, usbDir, "usb-pass")
	usb.ok("init")
	src := t.TempDir()
	makeTree(t, src, 7, 40)
	usb.ok("backup", src)
	makeTree(t, filepath.Join(src, "more"), 8, 10)
	usb.ok("backup", src)

	cloud := func(bucket string) *client {
		srv.MakeBucket(t, bucket)
		return newClient(t, bin, srv.URL(bucket, "repo"), "cloud-pass").
			with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword).
			with("CAIRN_FROM_PASSWORD", "usb-pass")
	}
	for _, c := range []struct {
		bucket, mode string
		init         []string
	}{
		{"same", "blobs", []string{"init", "--copy-chunker-params-from", usbDir}},
		{"other", "rechunk", []string{"init"}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			b := cloud(c.bucket)
			b.ok(c.init...)
			first := copyJSON(t, b, "--from-repo", usbDir)
			if first.Mode != c.mode || len(first.Copied) != 2 || len(first.Skipped) != 0 {
				t.Fatalf("first copy: %+v", first)
			}
			if c.mode == "blobs" && (first.Total.FilesRechunked != 0 || first.Total.DataDeduped == 0) {
				t.Errorf("blob copy re-chunked or deduplicated nothing: %+v", first.Total)
			}
			if c.mode == "rechunk" && first.Total.FilesRechunked == 0 {
				t.Errorf("re-chunking copy re-chunked nothing: %+v", first.Total)
			}
			before := bucketSize(t, srv, c.bucket)
			second := copyJSON(t, b, "--from-repo", usbDir)
			if len(second.Copied) != 0 || len(second.Skipped) != 2 {
				t.Fatalf("second copy: %+v", second)
			}
			if got := len(snapshotsJSON(t, b)); got != 2 {
				t.Fatalf("bucket holds %d snapshots, want 2", got)
			}
			// The second run writes nothing at all: no pack, no snapshot, no lease.
			if after := bucketSize(t, srv, c.bucket); after != before {
				t.Errorf("second copy changed the bucket from %d to %d bytes", before, after)
			}
			b.ok("check", "--read-data")
			target := t.TempDir()
			b.ok("restore", "latest", "--target", target)
			compareTrees(t, src, filepath.Join(target, src))
		})
	}

	// Back from MinIO to a local repository: the source's credentials come
	// from CAIRN_FROM_AWS_*, the destination has none.
	back := newClient(t, bin, filepath.Join(t.TempDir(), "back"), "back-pass").
		with("CAIRN_FROM_PASSWORD", "cloud-pass").
		with("CAIRN_FROM_AWS_ACCESS_KEY_ID", srv.RootUser).with("CAIRN_FROM_AWS_SECRET_ACCESS_KEY", srv.RootPassword)
	back.ok("init")
	res := copyJSON(t, back, "--from-repo", srv.URL("same", "repo"), "latest")
	if len(res.Copied) != 1 {
		t.Fatalf("copy back: %+v", res)
	}
	target := t.TempDir()
	back.ok("restore", "latest", "--target", target)
	compareTrees(t, src, filepath.Join(target, src))
}
