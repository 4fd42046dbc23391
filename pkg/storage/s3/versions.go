package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-backup/cairn/pkg/storage"
)

var _ storage.Versioner = (*Store)(nil)

// Versioning asks the bucket for its versioning state: true only when it
// is Enabled (a Suspended bucket replaces the "null" version in place).
func (s *Store) Versioning(ctx context.Context) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, s.fail(ctx, "get versioning of", s.bucket, err)
	}
	defer s.release()
	cfg, err := s.client.GetBucketVersioning(ctx, s.bucket)
	if err != nil {
		return false, s.fail(ctx, "get versioning of", s.bucket, err)
	}
	return cfg.Enabled(), nil
}

// ListVersions lists every version and delete marker under prefix with
// ListObjectVersions, which S3 orders by key and, within a key, newest
// first. Like List it holds no request token while fn runs.
func (s *Store) ListVersions(ctx context.Context, prefix string, fn func(storage.VersionInfo) error) error {
	return s.listKeys(ctx, "list versions", prefix, true, func(name string, obj minio.ObjectInfo) error {
		v := storage.VersionInfo{
			Name:         name,
			VersionID:    obj.VersionID,
			Size:         obj.Size,
			ModTime:      obj.LastModified,
			IsLatest:     obj.IsLatest,
			DeleteMarker: obj.IsDeleteMarker,
		}
		if v.VersionID == "" {
			v.VersionID = "null"
		}
		if v.DeleteMarker {
			v.Size = 0
		}
		return fn(v)
	})
}

// GetVersion reads one version of name. It checks the byte range the same
// way Get does.
func (s *Store) GetVersion(ctx context.Context, name, versionID string, offset, length int64) (io.ReadCloser, error) {
	what := name + " version " + versionID
	if err := storage.ValidName(name); err != nil {
		return nil, fmt.Errorf("%s: get version: %w", s, err)
	}
	if versionID == "" {
		return nil, fmt.Errorf("%s: get %s: empty version ID", s, name)
	}
	if offset < 0 || length == 0 {
		return nil, fmt.Errorf("%s: get %s: bad range (offset %d, length %d)", s, what, offset, length)
	}
	if err := s.acquire(ctx); err != nil {
		return nil, s.fail(ctx, "get", what, err)
	}
	opts := minio.GetObjectOptions{VersionID: versionID}
	ranged := offset > 0 || length > 0
	if ranged {
		end := int64(0)
		if length > 0 {
			end = offset + length - 1
		}
		if err := opts.SetRange(offset, end); err != nil {
			s.release()
			return nil, fmt.Errorf("%s: get %s: %w", s, what, err)
		}
	}
	body, info, header, err := s.core.GetObject(ctx, s.bucket, s.key(name), opts)
	if err != nil {
		s.release()
		if isInvalidRange(err) {
			return io.NopCloser(strings.NewReader("")), nil
		}
		if isDeleteMarkerAnswer(err) {
			return nil, fmt.Errorf("%s: get %s: a delete marker: %w", s, what, storage.ErrNotFound)
		}
		return nil, s.fail(ctx, "get", what, err)
	}
	if ranged {
		if err := checkContentRange(header.Get("Content-Range"), offset); err != nil {
			body.Close()
			s.release()
			return nil, fmt.Errorf("%s: get %s: %w", s, what, err)
		}
	}
	return &objectReader{store: s, name: what, body: body, remaining: info.Size}, nil
}

// isDeleteMarkerAnswer reports the 405 MethodNotAllowed S3 gives for a GET
// of a delete marker's version ID.
func isDeleteMarkerAnswer(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && (resp.Code == "MethodNotAllowed" || resp.StatusCode == 405)
}

// RestoreVersion copies versionID of name onto name with a server-side
// CopyObject: no data passes through the client, and the copy becomes the
// current version.
func (s *Store) RestoreVersion(ctx context.Context, name, versionID string) error {
	what := name + " version " + versionID
	if err := storage.ValidName(name); err != nil {
		return fmt.Errorf("%s: restore version: %w", s, err)
	}
	if versionID == "" {
		return fmt.Errorf("%s: restore %s: empty version ID", s, name)
	}
	if err := s.acquire(ctx); err != nil {
		return s.fail(ctx, "restore", what, err)
	}
	defer s.release()
	_, err := s.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: s.key(name)},
		minio.CopySrcOptions{Bucket: s.bucket, Object: s.key(name), VersionID: versionID})
	if err != nil {
		return s.fail(ctx, "restore", what, err)
	}
	return nil
}

// DeleteVersion removes one version or delete marker permanently.
func (s *Store) DeleteVersion(ctx context.Context, name, versionID string) error {
	what := name + " version " + versionID
	if err := storage.ValidName(name); err != nil {
		return fmt.Errorf("%s: delete version: %w", s, err)
	}
	if versionID == "" {
		return fmt.Errorf("%s: delete %s: empty version ID", s, name)
	}
	if err := s.acquire(ctx); err != nil {
		return s.fail(ctx, "delete", what, err)
	}
	defer s.release()
	err := s.client.RemoveObject(ctx, s.bucket, s.key(name), minio.RemoveObjectOptions{VersionID: versionID})
	if err != nil {
		err = translateError(ctx, err)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("%s: delete %s: %w", s, what, err)
	}
	return nil
}
