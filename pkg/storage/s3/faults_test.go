package s3_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/retry"
	"github.com/cairn-backup/cairn/pkg/storage/s3"
)

// faultKind is what faultTransport does to one request.
type faultKind int

const (
	slowDown faultKind = iota // answer 503 SlowDown without asking the server
	internal                  // answer 500 InternalError
	reset                     // fail the round trip with ECONNRESET
	truncate                  // pass the request on, cut the response body short
)

type fault struct {
	method string
	kind   faultKind
}

// faultTransport injects the queued faults into the first matching
// requests and records the Range header of every GET.
type faultTransport struct {
	base   http.RoundTripper
	mu     sync.Mutex
	queue  []fault
	ranges []string
}

func (f *faultTransport) add(method string, kinds ...faultKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range kinds {
		f.queue = append(f.queue, fault{method, k})
	}
}

func (f *faultTransport) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue)
}

func (f *faultTransport) take(req *http.Request) (faultKind, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Method == http.MethodGet {
		f.ranges = append(f.ranges, req.Header.Get("Range"))
	}
	for i, flt := range f.queue {
		if flt.method == req.Method {
			f.queue = append(f.queue[:i], f.queue[i+1:]...)
			return flt.kind, true
		}
	}
	return 0, false
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	kind, ok := f.take(req)
	if !ok {
		return f.base.RoundTrip(req)
	}
	errorResponse := func(status int, code string) (*http.Response, error) {
		if req.Body != nil {
			req.Body.Close()
		}
		body := "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
			"</Code><Message>injected</Message></Error>"
		return &http.Response{
			StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{"Content-Type": {"application/xml"}},
			Body:    io.NopCloser(strings.NewReader(body)),
			Request: req, ContentLength: int64(len(body)),
		}, nil
	}
	switch kind {
	case slowDown:
		return errorResponse(http.StatusServiceUnavailable, "SlowDown")
	case internal:
		return errorResponse(http.StatusInternalServerError, "InternalError")
	case reset:
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	}
	resp, err := f.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	// A proxy that closes the connection cleanly half-way: the body just
	// ends, with io.EOF, short of the announced Content-Length.
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, resp.ContentLength/2), resp.Body}
	return resp, nil
}

func testFaults(t *testing.T, cfg s3.Config) {
	ft := &faultTransport{base: http.DefaultTransport}
	cfg.Transport = ft
	plain := mustNew(t, cfg)
	retrying := retry.New(plain, retry.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond})
	ctx := t.Context()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	const name = "data/aa/aabb"

	// Without the decorator every fault surfaces once, classified.
	ft.add(http.MethodPut, slowDown)
	if err := plain.Put(ctx, name, data); !errors.Is(err, storage.ErrTransient) {
		t.Errorf("Put answered SlowDown: got %v, want storage.ErrTransient", err)
	}
	ft.add(http.MethodHead, reset)
	if _, err := plain.Stat(ctx, name); !errors.Is(err, storage.ErrTransient) {
		t.Errorf("Stat with a reset connection: got %v, want storage.ErrTransient", err)
	}
	ft.add(http.MethodGet, internal)
	err := plain.List(ctx, "", func(storage.ObjectInfo) error { return nil })
	if !errors.Is(err, storage.ErrTransient) {
		t.Errorf("List answered 500: got %v, want storage.ErrTransient", err)
	}

	// With it, each operation succeeds after its faults.
	ft.add(http.MethodPut, slowDown, reset, internal)
	if err := retrying.Put(ctx, name, data); err != nil {
		t.Fatalf("retried Put: %v", err)
	}
	ft.add(http.MethodHead, reset, slowDown)
	if fi, err := retrying.Stat(ctx, name); err != nil || fi.Size != int64(len(data)) {
		t.Errorf("retried Stat = %+v, %v", fi, err)
	}
	if n := ft.pending(); n != 0 {
		t.Errorf("%d faults not consumed", n)
	}

	// A body cut short is an error, never a short object.
	ft.add(http.MethodGet, truncate)
	rc, err := plain.Get(ctx, name, 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got, err := readAll(rc)
	if !errors.Is(err, storage.ErrTransient) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading a truncated body: %d bytes, error %v; want ErrTransient and io.ErrUnexpectedEOF", len(got), err)
	}

	// The decorator resumes the download where the body broke off.
	ft.mu.Lock()
	ft.ranges = nil
	ft.mu.Unlock()
	ft.add(http.MethodGet, truncate)
	rc, err = retrying.Get(ctx, name, 100, -1)
	if err != nil {
		t.Fatalf("retried Get: %v", err)
	}
	got, err = readAll(rc)
	if err != nil || !bytes.Equal(got, data[100:]) {
		t.Errorf("retried Get: %d bytes (want %d), %v", len(got), len(data)-100, err)
	}
	half := (int64(len(data)) - 100) / 2
	wantRanges := []string{"bytes=100-", "bytes=" + strconv.FormatInt(100+half, 10) + "-"}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if strings.Join(ft.ranges, " ") != strings.Join(wantRanges, " ") {
		t.Errorf("GET ranges = %q, want %q", ft.ranges, wantRanges)
	}
}
