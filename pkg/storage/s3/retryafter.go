package s3

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// minio-go's ErrorResponse keeps no headers, so the Retry-After of a
// throttling answer (B2 sends it with 503) would be lost. retryAfterTransport
// reads it off error responses and leaves it in a holder that the Store
// operation put in the request's context; fail then attaches it to the
// error, where the retry decorator finds it with storage.RetryAfter.

type retryAfterKey struct{}

// retryAfterHolder keeps the latest Retry-After seen by one operation.
type retryAfterHolder struct {
	mu sync.Mutex
	d  time.Duration
}

// withRetryAfter returns ctx with a fresh holder.
func withRetryAfter(ctx context.Context) context.Context {
	return context.WithValue(ctx, retryAfterKey{}, &retryAfterHolder{})
}

// retryAfterOf returns the Retry-After recorded under ctx, or 0.
func retryAfterOf(ctx context.Context) time.Duration {
	h, ok := ctx.Value(retryAfterKey{}).(*retryAfterHolder)
	if !ok {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.d
}

// retryAfterTransport records the Retry-After header of error responses.
type retryAfterTransport struct {
	base http.RoundTripper
}

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	h, ok := req.Context().Value(retryAfterKey{}).(*retryAfterHolder)
	if !ok {
		return resp, nil
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		h.mu.Lock()
		h.d = d
		h.mu.Unlock()
	}
	return resp, nil
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 || secs > int64(24*time.Hour/time.Second) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// retryAfterError is a classified error with the server's Retry-After.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("%v (server asks to retry after %v)", e.err, e.after)
}
func (e *retryAfterError) Unwrap() error             { return e.err }
func (e *retryAfterError) RetryAfter() time.Duration { return e.after }
