package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// translateError classifies an error from minio-go or from reading a
// response body into cairn's storage sentinels, keeping the original error
// in the chain for the message and for errors.As. It must run before the
// error is wrapped with context, because minio.ToErrorResponse only looks at
// the outermost error. Context errors pass through unchanged so callers see
// cancellation as cancellation, never as a retryable failure; errors that
// fit no class also pass through unchanged.
//
// ctx is the operation's context. An error that claims to be
// context.DeadlineExceeded while ctx is not done comes from a timeout below
// cairn: net/http's "timeout awaiting response headers" and dial timeouts
// say so. Those are transient, and are returned with the message only, so
// that nothing above mistakes them for the caller's own deadline.
func translateError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: %s", storage.ErrTransient, err)
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		if hint := responseHint(resp); hint != "" {
			err = fmt.Errorf("%s: %w", hint, err)
		}
		if sentinel := classifyResponse(resp); sentinel != nil {
			return fmt.Errorf("%w (%s, HTTP %d: %w)", sentinel, resp.Code, resp.StatusCode, err)
		}
		return err
	}
	if isTransientTransportError(err) {
		return fmt.Errorf("%w: %w", storage.ErrTransient, err)
	}
	return err
}

// responseHint says what to do about the errors whose S3 message does not:
// a wrong region and a skewed clock.
func responseHint(resp minio.ErrorResponse) string {
	switch {
	case resp.Code == "RequestTimeTooSkewed":
		return "this machine's clock differs from the storage server's by more than it allows (15 minutes on S3): set the clock (NTP) and try again"
	case resp.Code == "AuthorizationHeaderMalformed" || resp.Code == "PermanentRedirect" ||
		resp.Code == "IllegalLocationConstraintException" || strings.Contains(resp.Message, "region"):
		if resp.Region != "" {
			return fmt.Sprintf("the bucket is in region %s: give --s3-region %s (or s3-region in the configuration file)", resp.Region, resp.Region)
		}
		return "the S3 region is wrong for this bucket: give the bucket's region with --s3-region (or s3-region in the configuration file)"
	}
	return ""
}

// classifyResponse maps an S3 error response to a sentinel, or nil.
func classifyResponse(resp minio.ErrorResponse) error {
	switch resp.Code {
	case minio.PreconditionFailed:
		// The answer to a conditional PUT (If-None-Match: *) of a key
		// that exists: the only condition cairn sends.
		return storage.ErrExists
	case "ConditionalRequestConflict":
		// AWS: a conditional write raced another write of the key;
		// the retry then finds the winner (412).
		return storage.ErrTransient
	case minio.NoSuchBucket:
		return storage.ErrNoRepository
	case minio.NoSuchKey, "NotFound":
		return storage.ErrNotFound
	case "AccessDenied", "AllAccessDisabled", "AccountProblem",
		"InvalidAccessKeyId", "SignatureDoesNotMatch",
		"ExpiredToken", "InvalidToken", "InvalidSecurity":
		return storage.ErrPermission
	case "SlowDown", "SlowDownRead", "SlowDownWrite",
		"InternalError", "ServiceUnavailable", "RequestTimeout",
		"Throttling", "ThrottlingException", "RequestThrottled",
		"RequestLimitExceeded", "TooManyRequests",
		// Wasabi: throttling, and a connection it dropped (410).
		"RequestRateLimitExceeded", "DisconnectError",
		// Upload integrity checks: the body was damaged on the way,
		// so sending it again is the cure.
		"BadDigest", "XAmzContentSHA256Mismatch", "IncompleteBody",
		// MinIO answers this while it is still starting up.
		"XMinioServerNotInitialized":
		return storage.ErrTransient
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusGone, // Wasabi's DisconnectError; S3 sends no 410 otherwise
		499,             // nginx: client closed request
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout,
		520: // Cloudflare: unknown error from the origin
		return storage.ErrTransient
	case http.StatusPreconditionFailed:
		return storage.ErrExists
	case http.StatusNotFound:
		// A HEAD response has no body to name the code; minio-go then
		// guesses NoSuchKey for object requests, so a bare 404 here is
		// most likely a missing object too.
		return storage.ErrNotFound
	case http.StatusForbidden:
		return storage.ErrPermission
	}
	return nil
}

// isTransientTransportError reports failures below HTTP that a later
// attempt can plausibly avoid: resets, timeouts, refused connections (a
// restarting server), truncated bodies. Certificate and TLS-configuration
// problems and unknown hosts are not transient: retrying only delays the
// message that tells the user to fix their setup.
func isTransientTransportError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalidCert      x509.CertificateInvalidError
		recordHeader     tls.RecordHeaderError
		dnsErr           *net.DNSError
	)
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname),
		errors.As(err, &invalidCert), errors.As(err, &recordHeader):
		return false
	case errors.As(err, &dnsErr):
		return !dnsErr.IsNotFound
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, net.ErrClosed):
		return true
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		// net/http reports these as plain strings inside the *url.Error.
		msg := urlErr.Err.Error()
		if strings.Contains(msg, "server gave HTTP response to HTTPS client") ||
			strings.Contains(msg, "unsupported protocol scheme") {
			return false
		}
		// Anything else that failed the round trip: dial and header
		// timeouts, HTTP/2 GOAWAY, proxies dropping the connection.
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// conditionalRefused reports the answers of providers that do not support
// If-None-Match on PUT: 501 NotImplemented (most), or a 400 whose message
// names the header (some gateways reject unknown conditional headers).
// Anything else, notably a 412, is a real answer to the condition.
func conditionalRefused(err error) bool {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	if resp.StatusCode == http.StatusNotImplemented || resp.Code == minio.NotImplemented {
		return true
	}
	return resp.StatusCode == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(resp.Message), "if-none-match")
}

// isInvalidRange reports the 416 answer to a Get whose offset is at or past
// the end of the object.
func isInvalidRange(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) &&
		(resp.Code == minio.InvalidRange || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable)
}
