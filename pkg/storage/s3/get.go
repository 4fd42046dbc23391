package s3

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// Get returns a reader over length bytes of name from offset (length < 0:
// to the end).
//
// It uses minio-go's Core.GetObject, which sends the request before
// returning, so a missing object, a missing bucket or a permission problem
// is reported by Get itself, classified, rather than on the first Read as
// with Client.GetObject. The request token is held until the reader is
// closed, because the connection stays busy until then.
//
// Downloads are checked against the Content-Length and Content-Range the
// server announced: a body that ends early gives an error wrapping
// io.ErrUnexpectedEOF and storage.ErrTransient (so the retry decorator can
// resume at the right offset) instead of a short read that looks like the
// end of the object. Content checks belong to the layer above, which knows
// every object's hash.
func (s *Store) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	ctx = withRetryAfter(ctx)
	if err := storage.ValidName(name); err != nil {
		return nil, fmt.Errorf("%s: get: %w", s, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("%s: get %s: negative offset %d", s, name, offset)
	}
	if length == 0 {
		// HTTP cannot express an empty range; confirm the object exists
		// so a missing one still gives ErrNotFound.
		if _, err := s.Stat(ctx, name); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err := s.acquire(ctx); err != nil {
		return nil, s.fail(ctx, "get", name, err)
	}
	var opts minio.GetObjectOptions
	ranged := offset > 0 || length > 0
	if ranged {
		end := int64(0) // SetRange(offset, 0): "bytes=offset-"
		if length > 0 {
			end = offset + length - 1
		}
		if err := opts.SetRange(offset, end); err != nil {
			s.release()
			return nil, fmt.Errorf("%s: get %s: %w", s, name, err)
		}
	}
	body, info, header, err := s.core.GetObject(ctx, s.bucket, s.key(name), opts)
	if err != nil {
		s.release()
		if isInvalidRange(err) {
			// The object exists but ends at or before offset: the
			// contract truncates such a range to nothing.
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, s.fail(ctx, "get", name, err)
	}
	if ranged {
		if err := checkContentRange(header.Get("Content-Range"), offset); err != nil {
			body.Close()
			s.release()
			return nil, fmt.Errorf("%s: get %s: %w", s, name, err)
		}
	}
	return &objectReader{ctx: ctx, store: s, name: name, body: body, remaining: info.Size}, nil
}

// checkContentRange makes sure the server honoured the Range header. A
// proxy or server that ignores it answers 200 with the whole object, whose
// bytes would otherwise be taken for the requested range.
func checkContentRange(contentRange string, offset int64) error {
	// Content-Range: bytes 100-199/1234
	spec, ok := strings.CutPrefix(contentRange, "bytes ")
	if !ok {
		return fmt.Errorf("server ignored the byte range (Content-Range %q)", contentRange)
	}
	first, _, ok := strings.Cut(spec, "-")
	start, err := strconv.ParseInt(first, 10, 64)
	if !ok || err != nil || start != offset {
		return fmt.Errorf("server answered range %q, want bytes from %d", contentRange, offset)
	}
	return nil
}

// objectReader is the body of a Get. It classifies read errors like every
// other error of the package and turns an early end of the body into an
// error.
type objectReader struct {
	ctx       context.Context // of the Get, to tell cancellation from timeouts
	store     *Store
	name      string
	body      io.ReadCloser
	remaining int64 // bytes announced but not yet read; < 0 if unknown

	closeOnce sync.Once
	closeErr  error
}

func (r *objectReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if r.remaining >= 0 {
		r.remaining -= int64(n)
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF && r.remaining > 0:
		return n, r.store.fail(r.ctx, "read", r.name,
			fmt.Errorf("body ended %d bytes early: %w", r.remaining, io.ErrUnexpectedEOF))
	case err == io.EOF:
		return n, io.EOF
	}
	return n, r.store.fail(r.ctx, "read", r.name, err)
}

// Remaining is what the response announced less what was read (see
// storage.Sized).
func (r *objectReader) Remaining() int64 { return r.remaining }

// Close closes the body and returns the request token, once.
func (r *objectReader) Close() error {
	r.closeOnce.Do(func() {
		r.closeErr = r.body.Close()
		r.store.release()
	})
	return r.closeErr
}
