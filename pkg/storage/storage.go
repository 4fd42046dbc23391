package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors. Backends translate their own failures into these at their
// boundary (before wrapping), so callers can test with errors.Is whatever the
// backend.
var (
	// ErrNotFound means the named object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrPermission means the credentials do not allow the operation, for
	// example Delete with append-only credentials.
	ErrPermission = errors.New("permission denied")
	// ErrInvalidName means the object name breaks the naming rules below.
	ErrInvalidName = errors.New("invalid object name")
	// ErrExists means Put found an object of that name already there and
	// left it as it was (Put never replaces). Object names other than
	// config are the SHA-256 of their content, so for those it means the
	// same bytes are stored already; callers confirm with Stat.
	ErrExists = errors.New("object already exists")
	// ErrNoRepository means the bucket or directory itself does not exist.
	ErrNoRepository = errors.New("storage location does not exist")
	// ErrTransient marks a failure worth retrying (throttling, 5xx, resets,
	// timeouts). Backends wrap such errors so that a retrying decorator can
	// recognise them.
	ErrTransient = errors.New("transient storage error")
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Name    string
	Size    int64
	ModTime time.Time // as recorded by the storage server, not the client
}

// Sized is implemented by readers from Get that know, before their body is
// read, how many bytes it will deliver (an HTTP response's Content-Length,
// a file's size). A caller that bounds what it reads can refuse an
// oversized object from this without a Stat first. It is the server's
// claim: callers still read through a limiter.
type Sized interface {
	// Remaining returns the bytes not yet read, or -1 when unknown.
	Remaining() int64
}

// Store is the object-store interface every backend implements.
//
// Object names are 1-200 bytes of lowercase ASCII letters, digits, '-', '_'
// and '.', separated by single '/'; no leading or trailing '/', no "." or ".."
// segment. ValidName checks this. The rules keep names portable to FAT32 and
// exFAT (case-insensitive, no special characters) and to every S3 provider.
//
// All methods honour ctx: once it is done they return promptly with an error
// that wraps ctx.Err().
type Store interface {
	// Put creates the object name holding data. It never replaces an
	// existing object: if name exists, Put leaves it as it was and fails
	// with an error wrapping ErrExists (two racing Puts of one name: one
	// wins, the other gets ErrExists). The write is atomic: a concurrent
	// or later reader sees either the whole object or no object, never a
	// prefix. data is not retained after Put returns and may be re-sent by
	// retries, so a retried Put whose first attempt did succeed ends with
	// ErrExists over its own bytes; callers that name objects by content
	// confirm with Stat (see repo's putNew).
	//
	// Backends keep the rule where their storage allows it: mem and local
	// always; S3 with a conditional PUT (If-None-Match: *), falling back to
	// a plain PUT, with a warning, on providers that refuse conditional
	// writes.
	Put(ctx context.Context, name string, data []byte) error

	// Get returns length bytes of the object starting at offset. length < 0
	// means "to the end". A range beyond the end is truncated to the end
	// (the reader then yields fewer bytes). The caller must Close the
	// reader. A missing object gives an error wrapping ErrNotFound, either
	// from Get itself or from the first Read.
	Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)

	// Stat returns the object's size and server modification time, or an
	// error wrapping ErrNotFound.
	Stat(ctx context.Context, name string) (ObjectInfo, error)

	// List calls fn for every object whose name starts with prefix, in
	// ascending byte order of name. Objects put or deleted during the
	// listing may or may not be reported. An error from fn stops the
	// listing and is returned as is.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error

	// Delete removes the object. Deleting a missing object is not an error
	// (S3 semantics), so retries are safe.
	Delete(ctx context.Context, name string) error
}

// ReadAll reads a whole object.
func ReadAll(ctx context.Context, s Store, name string) ([]byte, error) {
	rc, err := s.Get(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// ValidName reports whether name follows the object naming rules.
func ValidName(name string) error {
	if len(name) == 0 || len(name) > 200 {
		return fmt.Errorf("%w: %q: length must be 1-200", ErrInvalidName, name)
	}
	segStart := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '/' {
			seg := name[segStart:i]
			if seg == "" || seg == "." || seg == ".." {
				return fmt.Errorf("%w: %q: empty, . or .. segment", ErrInvalidName, name)
			}
			segStart = i + 1
			continue
		}
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("%w: %q: byte %q not allowed", ErrInvalidName, name, c)
		}
	}
	return nil
}

// ValidPrefix reports whether prefix may be passed to List: empty, or a valid
// name optionally followed by '/'.
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if prefix[len(prefix)-1] == '/' {
		prefix = prefix[:len(prefix)-1]
	}
	return ValidName(prefix)
}

// RetryAfter returns the wait a server asked for before the next attempt
// (an HTTP Retry-After header on a throttling answer), or 0. Backends put
// it in the chain of a transient error as a value with a method
// RetryAfter() time.Duration; the retry decorator waits at least that long.
func RetryAfter(err error) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return max(ra.RetryAfter(), 0)
	}
	return 0
}

// Sleep waits for d, or until ctx is done (returning ctx.Err()): the wait
// of the decorators that pace requests (retry, ratelimit).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
