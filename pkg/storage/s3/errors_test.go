package s3

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-backup/cairn/pkg/storage"
)

func TestTranslateError(t *testing.T) {
	resp := func(status int, code string) error {
		return minio.ErrorResponse{StatusCode: status, Code: code, Message: "msg"}
	}
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "https://h/b/k", Err: err} }
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name string
		err  error
		want error // nil: passed through unclassified
	}{
		{"no such key", resp(404, "NoSuchKey"), storage.ErrNotFound},
		{"bare 404 from HEAD", resp(404, "404 Not Found"), storage.ErrNotFound},
		{"no such bucket", resp(404, "NoSuchBucket"), storage.ErrNoRepository},
		{"access denied", resp(403, "AccessDenied"), storage.ErrPermission},
		{"bare 403", resp(403, "403 Forbidden"), storage.ErrPermission},
		{"bad signature", resp(403, "SignatureDoesNotMatch"), storage.ErrPermission},
		{"unknown key id", resp(403, "InvalidAccessKeyId"), storage.ErrPermission},
		{"slow down", resp(503, "SlowDown"), storage.ErrTransient},
		{"throttled 429", resp(429, "TooManyRequests"), storage.ErrTransient},
		{"internal error", resp(500, "InternalError"), storage.ErrTransient},
		{"bad gateway", resp(502, "502 Bad Gateway"), storage.ErrTransient},
		{"gateway timeout", resp(504, "504 Gateway Timeout"), storage.ErrTransient},
		{"request timeout", resp(400, "RequestTimeout"), storage.ErrTransient},
		{"bad digest", resp(400, "BadDigest"), storage.ErrTransient},
		{"minio starting", resp(503, "XMinioServerNotInitialized"), storage.ErrTransient},
		{"wasabi rate limit", resp(503, "RequestRateLimitExceeded"), storage.ErrTransient},
		{"wasabi disconnect", resp(410, "DisconnectError"), storage.ErrTransient},
		{"bare 410", resp(410, "410 Gone"), storage.ErrTransient},
		{"invalid argument", resp(400, "InvalidArgument"), nil},
		{"exists (conditional put)", resp(412, "PreconditionFailed"), storage.ErrExists},
		{"bare 412", resp(412, "412 Precondition Failed"), storage.ErrExists},
		{"conditional write conflict", resp(409, "ConditionalRequestConflict"), storage.ErrTransient},
		{"wrapped response", fmt.Errorf("ctx: %w", resp(404, "NoSuchKey")), storage.ErrNotFound},
		{"connection reset", urlErr(reset), storage.ErrTransient},
		{"reset while reading body", reset, storage.ErrTransient},
		{"refused", urlErr(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), storage.ErrTransient},
		{"unexpected EOF", io.ErrUnexpectedEOF, storage.ErrTransient},
		{"EOF before response", urlErr(io.EOF), storage.ErrTransient},
		{"timeout", urlErr(timeoutError{}), storage.ErrTransient},
		{"unknown CA", urlErr(x509.UnknownAuthorityError{}), nil},
		{"http to https", urlErr(errors.New("http: server gave HTTP response to HTTPS client")), nil},
		{"no such host", urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}), nil},
		{"dns timeout", urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}}), storage.ErrTransient},
		{"other", errors.New("something else"), nil},
	}
	sentinels := []error{storage.ErrNotFound, storage.ErrNoRepository, storage.ErrPermission, storage.ErrTransient}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := translateError(context.Background(), tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("translateError(%v) = %v, lost the original error", tc.err, got)
			}
			for _, s := range sentinels {
				if errors.Is(got, s) != (s == tc.want) {
					t.Errorf("translateError(%v) = %v; errors.Is(%v) = %v", tc.err, got, s, errors.Is(got, s))
				}
			}
		})
	}
}

func TestTranslateErrorPassesContextErrorsThrough(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range []error{
		context.Canceled,
		context.DeadlineExceeded,
		&url.Error{Op: "Get", URL: "u", Err: context.Canceled},
	} {
		if got := translateError(done, err); got != err { //nolint:errorlint // identity is the point
			t.Errorf("translateError(%v) = %v, want it unchanged", err, got)
		}
	}
	if translateError(done, nil) != nil {
		t.Errorf("translateError(nil) != nil")
	}
}

// headerTimeout imitates net/http's "timeout awaiting response headers",
// which claims to be context.DeadlineExceeded.
type headerTimeout struct{}

func (headerTimeout) Error() string        { return "net/http: timeout awaiting response headers" }
func (headerTimeout) Timeout() bool        { return true }
func (headerTimeout) Is(target error) bool { return target == context.DeadlineExceeded }

// TestTranslateErrorTimeoutsBelowContext: a timeout that claims to be
// DeadlineExceeded while the operation's context is alive is a transport
// timeout: transient, and no longer looking like the caller's deadline
// (which the retry decorator would not retry).
func TestTranslateErrorTimeoutsBelowContext(t *testing.T) {
	for _, err := range []error{
		&url.Error{Op: "Put", URL: "u", Err: headerTimeout{}},
		&url.Error{Op: "Get", URL: "u", Err: context.DeadlineExceeded},
	} {
		got := translateError(context.Background(), err)
		if !errors.Is(got, storage.ErrTransient) || errors.Is(got, context.DeadlineExceeded) {
			t.Errorf("translateError(%v) = %v, want transient and not DeadlineExceeded", err, got)
		}
		if !strings.Contains(got.Error(), err.Error()) {
			t.Errorf("translateError(%v) = %v, lost the message", err, got)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestCheckContentRange(t *testing.T) {
	tests := []struct {
		header string
		offset int64
		ok     bool
	}{
		{"bytes 0-9/100", 0, true},
		{"bytes 100-199/1234", 100, true},
		{"bytes 10-19/*", 10, true},
		{"", 10, false},                   // Range ignored: whole object
		{"bytes 0-99/100", 10, false},     // wrong start
		{"bytes */100", 10, false},        // unsatisfied
		{"items 10-19/100", 10, false},    // unknown unit
		{"bytes x-19/100", 10, false},     // garbage
		{"bytes 10-19/100", 10000, false}, // wrong start
	}
	for _, tc := range tests {
		if err := checkContentRange(tc.header, tc.offset); (err == nil) != tc.ok {
			t.Errorf("checkContentRange(%q, %d) = %v, want ok=%v", tc.header, tc.offset, err, tc.ok)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
		{"999999999", 0, false},
	}
	for _, tc := range tests {
		if got, ok := parseRetryAfter(tc.v, now); got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// TestRegionAndClockHints: a wrong region and a skewed clock say what to
// do, naming the region when the server does.
func TestRegionAndClockHints(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		resp minio.ErrorResponse
		want string
	}{
		{minio.ErrorResponse{Code: "AuthorizationHeaderMalformed", Message: "the region 'us-east-1' is wrong; expecting 'eu-central-1'", Region: "eu-central-1", StatusCode: 400}, "--s3-region eu-central-1"},
		{minio.ErrorResponse{Code: "AuthorizationHeaderMalformed", Message: "the region 'us-east-1' is wrong", StatusCode: 400}, "give the bucket's region with --s3-region"},
		{minio.ErrorResponse{Code: "RequestTimeTooSkewed", Message: "The difference between the request time and the server's time is too large.", StatusCode: 403}, "set the clock"},
	} {
		got := translateError(ctx, c.resp)
		if got == nil || !strings.Contains(got.Error(), c.want) {
			t.Errorf("%s: %v; want it to say %q", c.resp.Code, got, c.want)
		}
	}
}
