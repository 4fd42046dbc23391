package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

	requests         atomic.Int64
	checksumRejected atomic.Int64
	locationRefused  atomic.Int64
	slowDowns        atomic.Int64
}

func newB2Proxy(t *testing.T, endpoint string) *b2Proxy {
	target := &url.URL{Scheme: "http", Host: endpoint}
	p := &b2Proxy{proxy: httputil.NewSingleHostReverseProxy(target)}
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

// slowDownFor makes the proxy answer every request with 503 SlowDown for d.
func (p *b2Proxy) slowDownFor(d time.Duration) {
	p.slowUntil.Store(time.Now().Add(d).UnixNano())
}

func (p *b2Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if time.Now().UnixNano() < p.slowUntil.Load() {
		p.slowDowns.Add(1)
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

func b2Error(w http.ResponseWriter, r *http.Request, status int, code, msg, retryAfter string) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>`+msg+`</Message></Error>`)
}
