package e2e

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairn-backup/cairn/e2e/miniotest"
)

// cuttingProxy sits between cairn and MinIO and, while enabled, cuts every
// connection that downloads a pack (a GET under data/) after limit bytes of
// body, like a flaky link or a middlebox with a byte budget. Everything
// else passes untouched, so the repository opens and its small objects load.
type cuttingProxy struct {
	srv     *httptest.Server
	proxy   *httputil.ReverseProxy
	limit   atomic.Int64
	enabled atomic.Bool
	cuts    atomic.Int64
}

func newCuttingProxy(t *testing.T, endpoint string, limit int) *cuttingProxy {
	p := &cuttingProxy{proxy: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: endpoint})}
	p.limit.Store(int64(limit))
	p.proxy.ErrorLog = nil
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *cuttingProxy) Endpoint() string { return p.srv.Listener.Addr().String() }

func (p *cuttingProxy) serve(w http.ResponseWriter, r *http.Request) {
	if p.enabled.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/data/") {
		p.cuts.Add(1)
		p.proxy.ServeHTTP(&truncatingWriter{ResponseWriter: w, limit: int(p.limit.Load())}, r)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// checkReportJSON is the part of check --json's summary this test reads.
type checkReportJSON struct {
	MessageType  string   `json:"message_type"`
	OK           bool     `json:"ok"`
	Complete     bool     `json:"complete"`
	Unreadable   []string `json:"unreadable"`
	DamagedPacks []string `json:"damaged_packs"`
	DamagedBlobs []string `json:"damaged_blobs"`
	Errors       []string `json:"errors"`
}

// TestS3CheckUnreachableIsNotDamage: with every pack download cut after
// 300 KB, check --read-data resumes each download where it broke and
// passes; with every pack download cut before its first byte, it gives up
// after --retry-for, says the storage was unreachable and exits 13. In
// neither case does it list a healthy pack as damaged or advise putting
// objects back. Once the link is healthy the same check passes.
func TestS3CheckUnreachableIsNotDamage(t *testing.T) {
	srv := miniotest.Start(t)
	bin := cairnBin(t)
	srv.MakeBucket(t, "unreachable")
	proxy := newCuttingProxy(t, srv.Endpoint, 300<<10)
	url := strings.Replace(srv.URL("unreachable", "repo"), srv.Endpoint, proxy.Endpoint(), 1)
	c := newClient(t, bin, url, "pw").
		with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)

	src := t.TempDir()
	makeTree(t, src, 21, 20)
	// At least one full 16 MiB pack: 55 cut connections to read, far more
	// than the retries allow.
	big := make([]byte, 24<<20)
	rng := rand.New(rand.NewPCG(21, 22))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("init")
	c.ok("backup", src)

	proxy.enabled.Store(true)
	// The structural check reads pack tails (16 KiB), under the limit.
	c.ok("check")

	noDamage := func(r result) {
		t.Helper()
		for _, bad := range []string{"Damaged packs", "put the damaged", "error: pack"} {
			if strings.Contains(r.stdout+r.stderr, bad) {
				t.Errorf("unreachable storage reported as damage (%q):\nstdout:\n%s\nstderr:\n%s", bad, r.stdout, r.stderr)
			}
		}
	}
	r := c.run("check", "--read-data")
	if r.code != 0 || proxy.cuts.Load() < 10 {
		t.Fatalf("check --read-data with downloads cut every 300 KB: exit %d after %d cut connections, want 0 (resumed)\nstdout:\n%s\nstderr:\n%s", r.code, proxy.cuts.Load(), r.stdout, r.stderr)
	}
	noDamage(r)

	proxy.limit.Store(0)
	r = c.run("check", "--read-data", "--retry-for", "3s")
	if r.code != 13 {
		t.Fatalf("check --read-data with no pack deliverable: exit %d, want 13\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	noDamage(r)
	if !strings.Contains(r.stdout, "storage unreachable") || !strings.Contains(r.stderr, "run check again when the storage is reachable") {
		t.Errorf("check does not say the storage was unreachable:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}

	r = c.run("check", "--read-data", "--json", "--retry-for", "3s")
	if r.code != 13 {
		t.Fatalf("check --read-data --json with no pack deliverable: exit %d, want 13\n%s", r.code, r.stderr)
	}
	var sum checkReportJSON
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m checkReportJSON
		if json.Unmarshal([]byte(line), &m) == nil && m.MessageType == "summary" {
			sum = m
		}
	}
	if sum.MessageType != "summary" {
		t.Fatalf("no JSON summary:\n%s", r.stdout)
	}
	if !sum.OK || sum.Complete || len(sum.Unreadable) == 0 || len(sum.DamagedPacks) != 0 || len(sum.DamagedBlobs) != 0 || len(sum.Errors) != 0 {
		t.Errorf("JSON summary: %+v", sum)
	}

	proxy.enabled.Store(false)
	c.ok("check", "--read-data")
}
