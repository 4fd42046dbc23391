package e2e

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultProxy sits between cairn and MinIO and misbehaves like a congested
// provider: 503 SlowDown, 500, connection resets, stalls, and response bodies
// cut short. Faults are drawn from a seeded source so failures reproduce.
type faultProxy struct {
	srv     *httptest.Server
	proxy   *httputil.ReverseProxy
	mu      sync.Mutex
	rnd     *rand.Rand
	rate    float64 // probability that a request gets a fault
	enabled atomic.Bool
	counts  sync.Map // fault kind -> *atomic.Int64
}

func newFaultProxy(t *testing.T, endpoint string, seed uint64, rate float64) *faultProxy {
	target := &url.URL{Scheme: "http", Host: endpoint}
	p := &faultProxy{proxy: httputil.NewSingleHostReverseProxy(target), rnd: rand.New(rand.NewPCG(seed, 7)), rate: rate}
	// Keep the client's Host header: the S3 signature covers it.
	p.proxy.ErrorLog = nil
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.enabled.Store(true)
	t.Cleanup(p.srv.Close)
	return p
}

// Endpoint is host:port of the proxy, for an s3+http URL.
func (p *faultProxy) Endpoint() string { return p.srv.Listener.Addr().String() }

func (p *faultProxy) count(kind string) {
	v, _ := p.counts.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Counts reports how many faults of each kind were injected.
func (p *faultProxy) Counts() map[string]int64 {
	out := map[string]int64{}
	p.counts.Range(func(k, v any) bool { out[k.(string)] = v.(*atomic.Int64).Load(); return true })
	return out
}

func (p *faultProxy) pick() string {
	if !p.enabled.Load() {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rnd.Float64() >= p.rate {
		return ""
	}
	return []string{"503", "500", "reset", "stall", "truncate", "truncate"}[p.rnd.IntN(6)]
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	kind := p.pick()
	if kind != "" {
		p.count(kind)
	}
	switch kind {
	case "503":
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
	case "500":
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>`)
	case "reset":
		hj, ok := w.(http.Hijacker)
		if !ok {
			return
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST instead of FIN
		}
		_ = conn.Close()
	case "stall":
		time.Sleep(1500 * time.Millisecond)
		p.proxy.ServeHTTP(w, r)
	case "truncate":
		if r.Method != http.MethodGet {
			p.proxy.ServeHTTP(w, r)
			return
		}
		p.proxy.ServeHTTP(&truncatingWriter{ResponseWriter: w, limit: 100}, r)
	default:
		p.proxy.ServeHTTP(w, r)
	}
}

// truncatingWriter passes the status and headers (including the full
// Content-Length) but only limit bytes of body, then kills the connection.
type truncatingWriter struct {
	http.ResponseWriter
	limit   int
	written int
	dead    bool
}

func (tw *truncatingWriter) Write(b []byte) (int, error) {
	if tw.dead {
		return 0, io.ErrClosedPipe
	}
	if tw.written+len(b) <= tw.limit {
		tw.written += len(b)
		return tw.ResponseWriter.Write(b)
	}
	n := tw.limit - tw.written
	_, _ = tw.ResponseWriter.Write(b[:n])
	if f, ok := tw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	tw.dead = true
	if hj, ok := tw.ResponseWriter.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
		}
	}
	return 0, io.ErrClosedPipe
}
