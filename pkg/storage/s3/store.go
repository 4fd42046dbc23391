package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// Compile-time checks of the capabilities Store offers.
var (
	_ storage.Store   = (*Store)(nil)
	_ storage.Creator = (*Store)(nil)
	_ storage.Closer  = (*Store)(nil)
)

// Store is a storage.Store over one bucket (and optional key prefix) of an
// S3-compatible object store. It is safe for concurrent use.
type Store struct {
	client *minio.Client
	// core gives the eager GetObject: the response status is known when
	// Get returns instead of on the first Read.
	core minio.Core

	bucket       string
	prefix       string // without slashes at either end; "" for the bucket root
	region       string
	storageClass string
	connections  int
	sem          chan struct{} // one token per request in flight

	warn func(msg string) // Config.Warn; may be nil
	// plainPuts is set once the server has refused a conditional PUT.
	plainPuts atomic.Bool

	// ownTransport is the transport New built, whose idle connections
	// Close releases; nil when Config.Transport was given.
	ownTransport *http.Transport
}

// New returns a Store for cfg. It applies the credential fallbacks from the
// environment (see Config) and checks the configuration, but sends no
// request: a missing bucket or bad credentials show up as ErrNoRepository or
// ErrPermission on the first operation, and Create makes the bucket.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	cfg = cfg.withEnvDefaults(os.Getenv)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts, err := cfg.clientOptions()
	if err != nil {
		return nil, err
	}
	client, err := minio.New(cfg.Endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("s3: endpoint %s: %w", cfg.Endpoint, err)
	}
	s := &Store{
		client:       client,
		core:         minio.Core{Client: client},
		bucket:       cfg.Bucket,
		prefix:       cfg.Prefix,
		region:       cfg.Region,
		storageClass: cfg.StorageClass,
		connections:  cfg.Connections,
		sem:          make(chan struct{}, cfg.Connections),
		warn:         cfg.Warn,
	}
	if cfg.Transport == nil {
		s.ownTransport, _ = opts.Transport.(retryAfterTransport).base.(stallTransport).base.(*http.Transport)
	}
	return s, nil
}

// BucketRegion returns the region requests are signed for: the configured
// one, or the one the client looked up (cached after the first request,
// so this sends none then).
func (s *Store) BucketRegion(ctx context.Context) (string, error) {
	if s.region != "" {
		return s.region, nil
	}
	return s.client.GetBucketLocation(ctx, s.bucket)
}

// Connections returns the number of requests the Store runs at once;
// callers size their worker pools from it.
func (s *Store) Connections() int { return s.connections }

// String names the location for messages, for example "s3:bucket/prefix".
func (s *Store) String() string {
	if s.prefix == "" {
		return "s3:" + s.bucket
	}
	return "s3:" + s.bucket + "/" + s.prefix
}

// key maps an object name (or list prefix) to the S3 key.
func (s *Store) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

// fail classifies err and adds which operation on which object failed.
func (s *Store) fail(ctx context.Context, op, name string, err error) error {
	err = translateError(ctx, err)
	if d := retryAfterOf(ctx); d > 0 && errors.Is(err, storage.ErrTransient) {
		err = &retryAfterError{err: err, after: d}
	}
	return fmt.Errorf("%s: %s %s: %w", s, op, name, err)
}

// acquire takes a request token, waiting while Connections requests are in
// flight. Limiting here rather than only in the HTTP transport keeps
// requests queued in cairn, where ctx can cancel them, instead of in the
// transport's dial queue.
func (s *Store) acquire(ctx context.Context) error {
	// Checked first because select picks at random when both are ready.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) release() { <-s.sem }

// Put uploads data in a single PUT request (never multipart, so the object
// appears atomically) with a Content-MD5 header: the server rejects a body
// damaged in transit with BadDigest, which is classified transient so the
// retry decorator resends it. The body is never sent aws-chunked, and the
// ETag the server answers is compared with the MD5 of the body (see
// checkETag), so a server that stores something else is caught at once.
//
// The PUT is conditional (If-None-Match: *), so it never replaces an
// object: the server answers 412 when the key exists, and Put returns an
// error wrapping storage.ErrExists. A provider that refuses conditional
// writes (see conditionalRefused) is detected on the first such answer;
// the Store then sends plain PUTs for the rest of its life, after one
// Config.Warn.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	ctx = withRetryAfter(ctx)
	if err := storage.ValidName(name); err != nil {
		return fmt.Errorf("%s: put: %w", s, err)
	}
	if err := s.acquire(ctx); err != nil {
		return s.fail(ctx, "put", name, err)
	}
	defer s.release()
	conditional := !s.plainPuts.Load()
	err := s.putObject(ctx, name, data, conditional)
	if conditional && conditionalRefused(err) {
		s.fallBackToPlainPuts(err)
		err = s.putObject(ctx, name, data, false)
	}
	if err != nil {
		return s.fail(ctx, "put", name, err)
	}
	return nil
}

func (s *Store) putObject(ctx context.Context, name string, data []byte, conditional bool) error {
	opts := minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		StorageClass: s.storageClassFor(name),
		// No streaming (aws-chunked) signature: some servers store the
		// chunk framing as the object. The payload is sent as is, as
		// UNSIGNED-PAYLOAD: its Content-MD5 is a signed header, which the
		// server checks against the body, so the signature binds the body
		// without a second hash of it (SHA-256 of every pack cost a backup
		// over plain HTTP 2% of its CPU).
		DisableContentSha256: true,
	}
	if conditional {
		opts.SetMatchETagExcept("*") // If-None-Match: *
	}
	sum := md5.Sum(data)
	key := s.key(name)
	// Core.PutObject is always one PUT with exactly the headers asked for:
	// no multipart, no x-amz-checksum-* headers or trailers (B2 refuses
	// them).
	info, err := s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)),
		base64.StdEncoding.EncodeToString(sum[:]), "", opts)
	if err != nil {
		return err
	}
	return s.checkETag(ctx, name, info.ETag, hex.EncodeToString(sum[:]))
}

// checkETag compares the ETag the server returned for a PUT with the MD5
// of what was sent. For a single PUT without SSE-KMS or SSE-C, S3 defines
// the ETag as the MD5 of the stored bytes, so a 32-hex ETag that differs
// means the server stored something else (a server that kept aws-chunked
// framing, or damaged the body after checking Content-MD5, or never
// checked it). An ETag of another shape says nothing and is accepted, and
// so is a mismatch on an object the server says it encrypted with KMS or
// a customer key, whose ETag is not an MD5.
func (s *Store) checkETag(ctx context.Context, name, etag, sentMD5 string) error {
	etag = strings.ToLower(strings.Trim(etag, `"`))
	if !isMD5Hex(etag) || etag == sentMD5 {
		return nil
	}
	if info, err := s.client.StatObject(ctx, s.bucket, s.key(name), minio.StatObjectOptions{}); err == nil {
		sse := strings.ToLower(info.Metadata.Get("X-Amz-Server-Side-Encryption"))
		if strings.HasPrefix(sse, "aws:kms") || info.Metadata.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "" {
			return nil
		}
	}
	return fmt.Errorf("%w: the server stored something else than was sent: it answered ETag %s "+
		"for a body whose MD5 is %s; the object may hold damaged bytes (if this is a self-hosted "+
		"server, check its S3 compatibility)", errStoredOtherwise, etag, sentMD5)
}

// errStoredOtherwise marks a PUT the server acknowledged with an ETag that
// is not the MD5 of the body sent. It is not transient: resending would
// meet the object the failed PUT created.
var errStoredOtherwise = errors.New("upload not stored as sent")

func isMD5Hex(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// fallBackToPlainPuts switches the Store to unconditional PUTs and warns,
// once.
func (s *Store) fallBackToPlainPuts(cause error) {
	if s.plainPuts.Swap(true) || s.warn == nil {
		return
	}
	s.warn(fmt.Sprintf("%s: the server does not support conditional uploads (If-None-Match: *): %v; "+
		"uploads fall back to plain PUTs, which can replace existing objects, so credentials that may "+
		"write objects can overwrite this repository's data (use bucket versioning for append-only backups)",
		s, minio.ToErrorResponse(cause).Code))
}

// Stat returns the size and server modification time of name.
func (s *Store) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	ctx = withRetryAfter(ctx)
	if err := storage.ValidName(name); err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("%s: stat: %w", s, err)
	}
	if err := s.acquire(ctx); err != nil {
		return storage.ObjectInfo{}, s.fail(ctx, "stat", name, err)
	}
	defer s.release()
	info, err := s.client.StatObject(ctx, s.bucket, s.key(name), minio.StatObjectOptions{})
	if err != nil {
		return storage.ObjectInfo{}, s.fail(ctx, "stat", name, err)
	}
	return storage.ObjectInfo{Name: name, Size: info.Size, ModTime: info.LastModified}, nil
}

// List reports the objects under prefix in ascending key order, which S3
// guarantees for ListObjectsV2. Keys under the Store's prefix that are not
// valid object names (directory markers made by other tools, for example)
// are skipped. List holds no request token while fn runs, so fn may call
// other methods of the Store.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	return s.listKeys(ctx, "list", prefix, false, func(name string, obj minio.ObjectInfo) error {
		return fn(storage.ObjectInfo{Name: name, Size: obj.Size, ModTime: obj.LastModified})
	})
}

// listKeys iterates over the keys under prefix (with versions: every
// version and delete marker), passing fn the object name of each valid
// one; List and ListVersions share it.
func (s *Store) listKeys(ctx context.Context, op, prefix string, versions bool, fn func(name string, obj minio.ObjectInfo) error) error {
	ctx = withRetryAfter(ctx)
	if err := storage.ValidPrefix(prefix); err != nil {
		return fmt.Errorf("%s: %s: %w", s, op, err)
	}
	strip := ""
	if s.prefix != "" {
		strip = s.prefix + "/"
	}
	objects := s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{
		Prefix:       s.key(prefix),
		Recursive:    true,
		WithVersions: versions,
	})
	for obj := range objects {
		if obj.Err != nil {
			return s.fail(ctx, op, prefix, obj.Err)
		}
		name, ok := strings.CutPrefix(obj.Key, strip)
		if !ok || storage.ValidName(name) != nil {
			continue
		}
		// The iterator hands out a whole page without looking at ctx.
		if err := ctx.Err(); err != nil {
			return s.fail(ctx, op, prefix, err)
		}
		if err := fn(name, obj); err != nil {
			return err
		}
	}
	// The iterator ends silently when ctx is cancelled, which would look
	// like a complete listing.
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, op, prefix, err)
	}
	return nil
}

// Delete removes name. S3 reports success for a missing key, and so does
// Delete.
func (s *Store) Delete(ctx context.Context, name string) error {
	ctx = withRetryAfter(ctx)
	if err := storage.ValidName(name); err != nil {
		return fmt.Errorf("%s: delete: %w", s, err)
	}
	if err := s.acquire(ctx); err != nil {
		return s.fail(ctx, "delete", name, err)
	}
	defer s.release()
	err := s.client.RemoveObject(ctx, s.bucket, s.key(name), minio.RemoveObjectOptions{})
	if err != nil {
		err = translateError(ctx, err)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("%s: delete %s: %w", s, name, err)
	}
	return nil
}

// Create makes the bucket unless it exists. The existence check is best
// effort: credentials restricted to a prefix may not be allowed to ask, so
// a failed check falls through to MakeBucket, whose "already owned by you"
// answer also counts as success. When both the check and MakeBucket are
// refused for lack of permission, Create succeeds without knowing: a key
// that may only write objects under a prefix of an existing bucket can
// still hold a repository, and the caller's next request (init's Stat and
// Put of the config) tells whether the bucket is there and writable.
func (s *Store) Create(ctx context.Context) error {
	exists, headErr := s.client.BucketExists(ctx, s.bucket)
	if headErr == nil && exists {
		return nil
	} else if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: create bucket: %w", s, ctxErr)
	}
	err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region})
	if err == nil {
		return nil
	}
	switch minio.ToErrorResponse(err).Code {
	case minio.BucketAlreadyOwnedByYou:
		return nil
	case minio.BucketAlreadyExists:
		return fmt.Errorf("%s: create bucket: the name %q is taken by another account; choose another bucket: %w",
			s, s.bucket, storage.ErrPermission)
	}
	err = translateError(ctx, err)
	if headErr != nil && errors.Is(err, storage.ErrPermission) && errors.Is(translateError(ctx, headErr), storage.ErrPermission) {
		return nil
	}
	return fmt.Errorf("%s: create bucket: %w", s, err)
}

// Close releases idle connections of the transport New built.
func (s *Store) Close() error {
	if s.ownTransport != nil {
		s.ownTransport.CloseIdleConnections()
	}
	return nil
}
