package backends

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/local"
	"github.com/cairn-backup/cairn/pkg/storage/retry"
	"github.com/cairn-backup/cairn/pkg/storage/s3"
)

// Path styles for S3 requests.
const (
	PathStyleAuto    = "auto"    // let the client decide from the endpoint
	PathStylePath    = "path"    // https://host/bucket/key (MinIO, most self-hosted servers)
	PathStyleVirtual = "virtual" // https://bucket.host/key (AWS)
)

// Options holds the settings that are not part of a location: credentials
// and tuning. Local directories ignore them.
type Options struct {
	// AccessKey, SecretKey and SessionToken are the S3 credentials. Empty
	// keys leave the choice to the S3 backend (environment, instance
	// metadata, anonymous access).
	AccessKey    string
	SecretKey    string
	SessionToken string
	// Region is the S3 region; empty lets the backend discover it.
	Region string
	// RegionHint, used when Region is empty and the endpoint names no
	// region, is one this location answered to before (OnRegion): the
	// store uses it without the probe that would learn it. A wrong hint
	// shows as a wrong-region error (s3.RegionFromError) on the first
	// request; open again without it.
	RegionHint string
	// OnRegion, when set, is told the region a probe settled on, to be
	// given as RegionHint next time.
	OnRegion func(region string)
	// PathStyle is one of PathStyleAuto (also the meaning of ""),
	// PathStylePath or PathStyleVirtual.
	PathStyle string
	// CAFile is a PEM file of extra certificate authorities to trust, for
	// servers with self-signed certificates.
	CAFile string
	// StorageClass is the S3 storage class of uploaded objects; empty
	// means the bucket's default.
	StorageClass string
	// Connections bounds the number of concurrent requests; 0 means the
	// backend's default.
	Connections int
	// Warn, when set, receives warnings that do not stop the operation
	// (see s3.Config.Warn).
	Warn func(msg string)
	// RetryFor is the time budget of one S3 operation's retries; 0 means
	// retry.DefaultRetryFor.
	RetryFor time.Duration
	// OnRetry, when set, is told about every retry before its wait (see
	// retry.Policy.Notify), for -v output and the summary's count.
	OnRetry func(op, name string, attempt int, err error, wait time.Duration)
}

// validate checks the options that do not depend on the backend.
func (o Options) validate() error {
	switch o.PathStyle {
	case "", PathStyleAuto, PathStylePath, PathStyleVirtual:
	default:
		return fmt.Errorf("path style %q: want %q, %q or %q", o.PathStyle, PathStyleAuto, PathStylePath, PathStyleVirtual)
	}
	if o.RetryFor < 0 {
		return fmt.Errorf("retry time %v: must not be negative", o.RetryFor)
	}
	if o.Connections < 0 {
		return fmt.Errorf("connections %d: must not be negative", o.Connections)
	}
	if (o.AccessKey == "") != (o.SecretKey == "") {
		return errors.New("S3 credentials need both an access key and a secret key")
	}
	return nil
}

// Open parses the repository location rawURL (see ParseLocation) and
// returns a store for it. It does not create anything: a missing directory
// or bucket is reported by the store's operations (storage.ErrNoRepository)
// and created with storage.Creator. Callers should close the store if it
// implements storage.Closer.
func Open(ctx context.Context, rawURL string, opts Options) (storage.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	loc, err := ParseLocation(rawURL)
	if err != nil {
		return nil, err
	}
	switch loc.Scheme {
	case SchemeLocal:
		s, err := local.New(loc.Path)
		if err != nil {
			return nil, fmt.Errorf("open repository %s: %w", loc, err)
		}
		return s, nil
	case SchemeS3:
		if err := opts.validate(); err != nil {
			return nil, fmt.Errorf("open repository %s: %w", loc, err)
		}
		region := opts.Region
		if region == "" {
			region = InferRegion(loc.Endpoint)
		}
		probe := region == ""
		if probe && opts.RegionHint != "" {
			region, probe = opts.RegionHint, false
		}
		s, err := openS3(ctx, loc, opts, region)
		if err != nil {
			return nil, err
		}
		// The S3 client's own retries are off; this is the one retry
		// policy for the backend.
		policy := retry.Policy{RetryFor: opts.RetryFor, Notify: opts.OnRetry}
		rs := retry.New(s, policy)
		if probe {
			// Neither given nor stated by the endpoint: the client asks
			// the server, and a key that may not ask (GetBucketLocation
			// denied) gets us-east-1. A bucket elsewhere then answers
			// with its region, once: use it. The probe goes through the
			// retry policy like any request, so a throttling server is
			// answered with patience, not with a second request at once.
			err := rs.List(ctx, "config", func(storage.ObjectInfo) error { return errStopProbe })
			settled := err == nil || errors.Is(err, errStopProbe) // the region answered
			if found := s3.RegionFromError(err); found != "" {
				settled = true
				if opts.Warn != nil {
					opts.Warn(fmt.Sprintf("the bucket is in region %s (the server said so); give --s3-region %s to save a request", found, found))
				}
				if s, err = openS3(ctx, loc, opts, found); err != nil {
					return nil, err
				}
				rs = retry.New(s, policy)
			}
			if settled && opts.OnRegion != nil {
				if found, err := s.BucketRegion(ctx); err == nil && found != "" {
					opts.OnRegion(found)
				}
			}
		}
		return rs, nil
	}
	return nil, fmt.Errorf("open repository %s: unknown scheme %q", rawURL, loc.Scheme)
}

// errStopProbe ends the region probe's listing at its first object.
var errStopProbe = errors.New("probe done")

// openS3 makes the S3 store of loc in region.
func openS3(ctx context.Context, loc Location, opts Options, region string) (*s3.Store, error) {
	s, err := s3.New(ctx, s3.Config{
		Endpoint:     loc.Endpoint,
		Bucket:       loc.Bucket,
		Prefix:       loc.Prefix,
		Insecure:     loc.Insecure,
		AccessKey:    opts.AccessKey,
		SecretKey:    opts.SecretKey,
		SessionToken: opts.SessionToken,
		Region:       region,
		Lookup:       opts.PathStyle,
		CAFile:       opts.CAFile,
		StorageClass: opts.StorageClass,
		Connections:  opts.Connections,
		Warn:         opts.Warn,
	})
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", loc, err)
	}
	return s, nil
}
