package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// statsPath is where the proxy answers with its own counters.
const statsPath = "/_s3proxy/stats"

// Kinds of request the proxy counts.
var kinds = []string{"GET", "PUT", "HEAD", "LIST", "DELETE", "POST", "OTHER"}

// Options configure a Proxy.
type Options struct {
	// Latency is added once before a request is forwarded and once
	// before its response goes back: a round trip costs 2*Latency.
	Latency time.Duration
	// Bandwidth caps each direction at this many bytes per second;
	// 0 means no cap.
	Bandwidth int64
	// Log, if set, is told about every request when it is done: its
	// kind, path and query, and how long it took (the delays included).
	Log func(kind, target string, d time.Duration)
	// Transport reaches the upstream; nil means a pooled http.Transport.
	Transport http.RoundTripper
	// sleep waits for d or until ctx ends; nil means a timer. Tests
	// replace it to see the delays without timing anything.
	sleep func(ctx context.Context, d time.Duration) error
}

// Proxy forwards S3 requests to one upstream, delaying, throttling and
// counting them.
type Proxy struct {
	rp       *httputil.ReverseProxy
	opts     Options
	up, down *rate.Limiter // nil without a bandwidth cap

	mu       sync.Mutex
	counts   map[string]int64
	bytesUp  atomic.Int64 // request bodies
	bytesDwn atomic.Int64 // response bodies
}

// burst is the most bytes one limiter wait covers.
const burst = 64 << 10

// New returns a Proxy in front of target.
func New(target *url.URL, opts Options) *Proxy {
	if opts.sleep == nil {
		opts.sleep = sleepCtx
	}
	p := &Proxy{opts: opts, counts: map[string]int64{}}
	if opts.Bandwidth > 0 {
		b := max(int(min(opts.Bandwidth, burst)), 1)
		p.up = rate.NewLimiter(rate.Limit(opts.Bandwidth), b)
		p.down = rate.NewLimiter(rate.Limit(opts.Bandwidth), b)
	}
	tr := opts.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 512
		t.MaxIdleConnsPerHost = 512
		t.DisableCompression = true // bodies must pass unchanged
		tr = t
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the client signed the proxy's host
		},
		Transport:     tr,
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if err := p.opts.sleep(resp.Request.Context(), p.opts.Latency); err != nil {
				return err
			}
			resp.Body = &meteredBody{r: resp.Body, ctx: resp.Request.Context(), lim: p.down, n: &p.bytesDwn}
			return nil
		},
	}
	return p
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == statsPath {
		p.serveStats(w, r)
		return
	}
	kind := classify(r)
	p.count(kind)
	if p.opts.Log != nil {
		start := time.Now()
		defer func() { p.opts.Log(kind, r.URL.RequestURI(), time.Since(start)) }()
	}
	if err := p.opts.sleep(r.Context(), p.opts.Latency); err != nil {
		return // the client went away
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &meteredBody{r: r.Body, ctx: r.Context(), lim: p.up, n: &p.bytesUp}
	}
	p.rp.ServeHTTP(w, r)
}

func (p *Proxy) count(kind string) {
	p.mu.Lock()
	p.counts[kind]++
	p.mu.Unlock()
}

// Stats returns the counters (every kind, zero included, and bytes_up,
// bytes_down); reset starts them again at zero.
func (p *Proxy) Stats(reset bool) map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(kinds)+2)
	for _, k := range kinds {
		out[k] = p.counts[k]
	}
	if reset {
		clear(p.counts)
		out["bytes_up"] = p.bytesUp.Swap(0)
		out["bytes_down"] = p.bytesDwn.Swap(0)
	} else {
		out["bytes_up"] = p.bytesUp.Load()
		out["bytes_down"] = p.bytesDwn.Load()
	}
	return out
}

func (p *Proxy) serveStats(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p.Stats(r.URL.Query().Get("reset") == "1"))
}

// classify names the kind of an S3 request, path-style addressing
// (/bucket/key) as cairn and restic use with an IP endpoint. A GET on a
// bucket is a LIST unless it asks for a bucket subresource (location,
// versioning, ...), which is OTHER.
func classify(r *http.Request) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch r.Method {
	case http.MethodGet:
		if key != "" {
			return "GET"
		}
		q := r.URL.Query()
		for name := range q {
			switch name {
			case "list-type", "prefix", "delimiter", "continuation-token", "start-after",
				"max-keys", "marker", "versions", "key-marker", "version-id-marker",
				"encoding-type", "fetch-owner", "metadata":
			default:
				return "OTHER"
			}
		}
		return "LIST"
	case http.MethodPut, http.MethodHead, http.MethodDelete, http.MethodPost:
		return r.Method
	}
	return "OTHER"
}

// meteredBody counts the bytes read through it and, with a limiter, holds
// each read back until the bandwidth allows it.
type meteredBody struct {
	r   io.ReadCloser
	ctx context.Context
	lim *rate.Limiter
	n   *atomic.Int64
}

func (m *meteredBody) Read(b []byte) (int, error) {
	if m.lim != nil && len(b) > m.lim.Burst() {
		b = b[:m.lim.Burst()]
	}
	n, err := m.r.Read(b)
	if n > 0 {
		m.n.Add(int64(n))
		if m.lim != nil {
			if werr := m.lim.WaitN(m.ctx, n); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return n, err
}

func (m *meteredBody) Close() error { return m.r.Close() }

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
