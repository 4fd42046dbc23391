package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/e2e/miniotest"
)

// b2Proxy sits in front of MinIO and answers like Backblaze B2's S3 API
// where B2 differs from AWS: it rejects any request carrying an
// x-amz-checksum-* header with 400, refuses GetBucketLocation with 403
// AccessDenied, and, on demand, answers every request with 503 SlowDown
// and Retry-After: 1 for a stretch of time (B2's answer to load).
type b2Proxy struct {
	srv       *httptest.Server
	proxy     *httputil.ReverseProxy
	slowUntil atomic.Int64 // unix nanoseconds; 503 for every request before it
	// slowArmed counts down requests until a stretch of slowFor begins; 0
	// means no stretch is pending.
	slowArmed atomic.Int64
	slowFor   atomic.Int64 // nanoseconds

	requests         atomic.Int64
	checksumRejected atomic.Int64
	locationRefused  atomic.Int64
	slowDowns        atomic.Int64
	// earlyRetries counts requests for an object (and range) that came
	// back sooner than the Retry-After of 1 second after a 503 for it.
	earlyRetries atomic.Int64
	mu           sync.Mutex
	last503      map[string]time.Time
}

func newB2Proxy(t *testing.T, endpoint string) *b2Proxy {
	target := &url.URL{Scheme: "http", Host: endpoint}
	p := &b2Proxy{proxy: httputil.NewSingleHostReverseProxy(target), last503: map[string]time.Time{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the cairn repository location of bucket and prefix through the
// proxy.
func (p *b2Proxy) URL(bucket, prefix string) string {
	u := "s3+http://" + p.srv.Listener.Addr().String() + "/" + bucket
	if prefix != "" {
		u += "/" + prefix
	}
	return u
}

// slowDownAfter makes the proxy answer every request with 503 SlowDown
// for d, beginning with the request after the next n ones (n = 0: the very
// next request).
func (p *b2Proxy) slowDownAfter(n int64, d time.Duration) {
	p.slowFor.Store(int64(d))
	p.slowArmed.Store(n + 1)
}

func (p *b2Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if p.slowArmed.Load() > 0 && p.slowArmed.Add(-1) == 0 {
		p.slowUntil.Store(time.Now().Add(time.Duration(p.slowFor.Load())).UnixNano())
	}
	if time.Now().UnixNano() < p.slowUntil.Load() {
		p.slowDowns.Add(1)
		p.noteSlowDown(r)
		b2Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", "1")
		return
	}
	for name := range r.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-checksum-") {
			p.checksumRejected.Add(1)
			b2Error(w, r, http.StatusBadRequest, "InvalidArgument", "Unsupported header '"+name+"' received for this API call.", "")
			return
		}
	}
	if _, ok := r.URL.Query()["location"]; ok && r.Method == http.MethodGet {
		p.locationRefused.Add(1)
		b2Error(w, r, http.StatusForbidden, "AccessDenied", "Access Denied", "")
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// noteSlowDown records a 503 for r's request line and range, and counts
// the request as early when the previous 503 for them is less than the
// Retry-After second ago (with 100 ms of slack for clock granularity).
func (p *b2Proxy) noteSlowDown(r *http.Request) {
	key := r.Method + " " + r.URL.String() + " " + r.Header.Get("Range")
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.last503[key]; ok && now.Sub(prev) < 900*time.Millisecond {
		p.earlyRetries.Add(1)
	}
	p.last503[key] = now
}

func b2Error(w http.ResponseWriter, r *http.Request, status int, code, msg, retryAfter string) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>`+msg+`</Message></Error>`)
}

// slowDownStretch is how long the B2-like proxy answers everything with
// 503 SlowDown: far below cairn's default --retry-for of 5 minutes, far
// above any single backoff, so only a client that keeps retrying (and
// honours Retry-After) finishes.
const slowDownStretch = 20 * time.Second

// TestB2SlowDownDuringRestore starts restores while a B2-like provider
// answers every request with 503 SlowDown and Retry-After: 1 for 20
// seconds, once from the first request (opening the repository) and once
// after the restore has begun downloading; each must still finish with an
// exact copy and exit 0.
func TestB2SlowDownDuringRestore(t *testing.T) {
	bin := cairnBin(t)
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "slowdown")
	proxy := newB2Proxy(t, srv.Endpoint)
	c := newClient(t, bin, proxy.URL("slowdown", "repo"), "slow-pass").
		with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
	c.ok("init")
	src := t.TempDir()
	makeTree(t, src, 41, 40)
	c.ok("backup", src)

	for _, tc := range []struct {
		name string
		// after is how many requests of the restore pass before the stretch
		// of 503s begins.
		after int64
	}{{"FromTheStart", 0}, {"WhileDownloading", 8}} {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh client: no cache, so the restore must read everything
			// through the proxy.
			fresh := newClient(t, bin, c.repo, "slow-pass").
				with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
			before, earlyBefore := proxy.slowDowns.Load(), proxy.earlyRetries.Load()
			proxy.slowDownAfter(tc.after, slowDownStretch)
			target := t.TempDir()
			fresh.ok("restore", "latest", "--target", target)
			got := proxy.slowDowns.Load() - before
			if got == 0 {
				t.Fatalf("the proxy sent no 503 during the restore: the stretch never began (restore made fewer than %d requests?)", tc.after)
			}
			if until := time.Unix(0, proxy.slowUntil.Load()); time.Now().Before(until) {
				t.Fatalf("restore exited 0 at %v while the proxy answers only 503 until %v", time.Now(), until)
			}
			if early := proxy.earlyRetries.Load() - earlyBefore; early != 0 {
				t.Fatalf("%d requests came back less than the Retry-After second after a 503 for them", early)
			}
			compareTrees(t, src, filepath.Join(target, src))
			t.Logf("restore finished exactly after %d answers of 503 SlowDown", got)
		})
	}
}

// TestB2ProxyImitatesB2 checks the proxy itself, so that the flows passing
// through it mean something: checksum headers get 400, GetBucketLocation
// gets 403, and a stretch of SlowDown answers 503 with Retry-After: 1.
func TestB2ProxyImitatesB2(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	p := newB2Proxy(t, backend.Listener.Addr().String())
	base := "http://" + p.srv.Listener.Addr().String()
	do := func(method, path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := do(http.MethodPut, "/b/obj", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("plain PUT: %d, want 200 from the backend", r.StatusCode)
	}
	if r := do(http.MethodPut, "/b/obj", map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="}); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("PUT with x-amz-checksum-crc32: %d, want 400", r.StatusCode)
	}
	if r := do(http.MethodGet, "/b?location=", nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("GetBucketLocation: %d, want 403", r.StatusCode)
	}
	p.slowDownAfter(1, time.Hour)
	if r := do(http.MethodGet, "/b/obj", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("request before the stretch: %d, want 200", r.StatusCode)
	}
	r := do(http.MethodGet, "/b/obj", nil)
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("during the stretch: %d Retry-After %q, want 503 and 1", r.StatusCode, r.Header.Get("Retry-After"))
	}
	do(http.MethodGet, "/b/obj", nil) // at once, not honouring Retry-After
	if n := p.earlyRetries.Load(); n != 1 {
		t.Fatalf("an immediate retry after a 503 counted as %d early retries, want 1", n)
	}
}
