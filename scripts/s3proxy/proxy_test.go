package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// fakeS3 stores PUT bodies by path, serves them to GET and HEAD, and
// records what reached it.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	hosts   []string
	methods []string
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts = append(f.hosts, r.Host)
	f.methods = append(f.methods, r.Method)
	switch r.Method {
	case http.MethodPut:
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.objects[r.URL.Path] = b
	case http.MethodGet, http.MethodHead:
		if r.URL.Query().Has("list-type") {
			_, _ = io.WriteString(w, "<ListBucketResult/>")
			return
		}
		b, ok := f.objects[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", itoa(len(b)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(b)
		}
	case http.MethodDelete:
		delete(f.objects, r.URL.Path)
		w.WriteHeader(http.StatusNoContent)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// recordSleeps stands in for the timer and records each delay asked for.
type recordSleeps struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *recordSleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	return ctx.Err()
}

func do(t *testing.T, c *http.Client, method, u string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return resp.StatusCode, b
}

func TestProxyForwardsCountsDelays(t *testing.T) {
	fake := &fakeS3{objects: map[string][]byte{}}
	up := httptest.NewServer(fake)
	defer up.Close()
	target, _ := url.Parse(up.URL)
	sl := &recordSleeps{}
	// A bandwidth cap far above what the test sends, so the limiter is
	// exercised without slowing the test down.
	p := New(target, Options{Latency: 20 * time.Millisecond, Bandwidth: 1 << 30, sleep: sl.sleep})
	front := httptest.NewServer(p)
	defer front.Close()
	c := front.Client()

	payload := make([]byte, 3<<20+17) // several limiter bursts, not a multiple of one
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	obj := front.URL + "/bucket/data/ab/cdef"
	if code, _ := do(t, c, http.MethodPut, obj, payload); code != http.StatusOK {
		t.Fatalf("PUT: status %d", code)
	}
	if !bytes.Equal(fake.objects["/bucket/data/ab/cdef"], payload) {
		t.Fatal("the upstream received different bytes than the client sent")
	}
	code, got := do(t, c, http.MethodGet, obj, nil)
	if code != http.StatusOK || !bytes.Equal(got, payload) {
		t.Fatalf("GET: status %d, %d bytes; want 200 and the %d bytes stored", code, len(got), len(payload))
	}
	do(t, c, http.MethodHead, obj, nil)
	do(t, c, http.MethodGet, front.URL+"/bucket?list-type=2&prefix=data/", nil)
	do(t, c, http.MethodGet, front.URL+"/bucket?location=", nil)
	do(t, c, http.MethodGet, front.URL+"/bucket/missing", nil)
	do(t, c, http.MethodDelete, obj, nil)

	for _, h := range fake.hosts {
		if h != front.Listener.Addr().String() {
			t.Fatalf("upstream saw Host %q, want the proxy's %q (signatures cover it)", h, front.Listener.Addr())
		}
	}
	if len(fake.methods) != 7 {
		t.Fatalf("upstream saw %d requests, want 7: %v", len(fake.methods), fake.methods)
	}

	_, body := do(t, c, http.MethodGet, front.URL+statsPath+"?reset=1", nil)
	var st map[string]int64
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("stats %q: %v", body, err)
	}
	want := map[string]int64{"GET": 2, "PUT": 1, "HEAD": 1, "LIST": 1, "DELETE": 1, "POST": 0, "OTHER": 1,
		"bytes_up": int64(len(payload))}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("stats[%s] = %d, want %d (all: %v)", k, st[k], v, st)
		}
	}
	// Down: the object once, the list answer, the 404 text.
	if st["bytes_down"] < int64(len(payload)) {
		t.Errorf("bytes_down = %d, want at least the %d bytes of the object", st["bytes_down"], len(payload))
	}

	// Every forwarded request waited Latency twice (in and out); the
	// stats request waited not at all.
	sl.mu.Lock()
	n := len(sl.ds)
	for _, d := range sl.ds {
		if d != 20*time.Millisecond {
			t.Errorf("a delay of %v, want 20ms", d)
		}
	}
	sl.mu.Unlock()
	if n != 2*7 {
		t.Errorf("%d delays for 7 requests, want 14", n)
	}

	_, body = do(t, c, http.MethodGet, front.URL+statsPath, nil)
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	for k, v := range st {
		if v != 0 {
			t.Errorf("after reset stats[%s] = %d, want 0", k, v)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct{ method, target, want string }{
		{"GET", "/b/k", "GET"},
		{"GET", "/b/dir/k?partNumber=1", "GET"},
		{"GET", "/b", "LIST"},
		{"GET", "/b/", "LIST"},
		{"GET", "/b?list-type=2&prefix=x%2F&continuation-token=abc", "LIST"},
		{"GET", "/b?versions&prefix=x", "LIST"},
		{"GET", "/b?location=", "OTHER"},
		{"GET", "/b?versioning", "OTHER"},
		{"HEAD", "/b/k", "HEAD"},
		{"PUT", "/b/k", "PUT"},
		{"DELETE", "/b/k", "DELETE"},
		{"POST", "/b?delete", "POST"},
		{"PATCH", "/b/k", "OTHER"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.target, nil)
		if got := classify(r); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.target, got, c.want)
		}
	}
}

// A throttled body whose request was cancelled stops at once instead of
// waiting for bandwidth (one byte an hour here: a limiter that ignored the
// context would hang the test until its timeout).
func TestMeteredBodyHonoursContext(t *testing.T) {
	var n atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	m := &meteredBody{
		r:   io.NopCloser(bytes.NewReader([]byte("abcdef"))),
		ctx: ctx,
		lim: rate.NewLimiter(rate.Every(time.Hour), 1),
		n:   &n,
	}
	buf := make([]byte, 4)
	if k, err := m.Read(buf); k != 1 || err != nil || buf[0] != 'a' {
		t.Fatalf("first read: %d bytes %q, %v; want the one byte of the burst", k, buf[:k], err)
	}
	cancel()
	k, err := m.Read(buf)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %d bytes, %v; want context.Canceled", k, err)
	}
	if n.Load() != int64(1+k) {
		t.Fatalf("counted %d bytes, want %d", n.Load(), 1+k)
	}
}
