package s3

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// DefaultStallTimeout is how long one read of a response body may wait
// for data when Config.StallTimeout is zero. It matches the transport's
// response-header timeout.
const DefaultStallTimeout = time.Minute

// stallTransport closes a response body whose Read waits longer than
// timeout for data, and makes that Read fail with a transient error.
// net/http times only the response headers, so without it a server that
// stops sending mid-body (a listing page, an object, even the error body
// minio-go drains) would hang the operation until the user gives up. Only
// time spent inside Read counts: a caller that is slow to read is not a
// stalled server.
type stallTransport struct {
	base    http.RoundTripper
	timeout time.Duration
}

func (t stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		return resp, err
	}
	resp.Body = &stallBody{body: resp.Body, timeout: t.timeout}
	return resp, nil
}

type stallBody struct {
	body    io.ReadCloser
	timeout time.Duration
	stalled atomic.Bool
}

func (b *stallBody) Read(p []byte) (int, error) {
	timer := time.AfterFunc(b.timeout, func() {
		b.stalled.Store(true)
		_ = b.body.Close()
	})
	n, err := b.body.Read(p)
	if !timer.Stop() && b.stalled.Load() {
		return n, fmt.Errorf("%w: response body: no data for %v, connection closed", storage.ErrTransient, b.timeout)
	}
	return n, err
}

func (b *stallBody) Close() error { return b.body.Close() }
