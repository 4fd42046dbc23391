package s3

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// DefaultConnections is the number of concurrent requests a Store allows
// when Config.Connections is zero.
const DefaultConnections = 8

// defaultEndpoint is used when Config.Endpoint is empty.
const defaultEndpoint = "s3.amazonaws.com"

// Config says where a repository lives in an S3-compatible object store and
// how to reach it.
type Config struct {
	// Endpoint is host[:port] of the S3 service, without scheme.
	// Empty means Amazon S3 (s3.amazonaws.com).
	Endpoint string
	// Bucket holds the repository.
	Bucket string
	// Prefix is prepended to every object name with a '/' in between, so
	// several repositories can share a bucket. Leading and trailing
	// slashes are ignored; empty stores objects at the bucket root.
	Prefix string
	// Insecure selects plain HTTP instead of HTTPS.
	Insecure bool

	// AccessKey, SecretKey and SessionToken are static credentials. When
	// AccessKey and SecretKey are both empty, New falls back to the
	// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
	// environment variables; when those are empty too, requests are sent
	// unsigned (anonymous).
	AccessKey    string
	SecretKey    string
	SessionToken string

	// Region is the bucket's region. Empty lets the client ask the server
	// (one GetBucketLocation request per bucket, then cached).
	Region string
	// Lookup selects how the bucket is addressed: "path"
	// (https://host/bucket/key), "virtual" (https://bucket.host/key) or
	// "auto"/"" (virtual for Amazon and Google, path for everything else).
	Lookup string
	// CAFile names a PEM file of extra certificate authorities to trust,
	// in addition to the system pool, for self-hosted HTTPS endpoints.
	CAFile string
	// StorageClass is sent with the Put of every data pack (objects under
	// data/), for example STANDARD_IA; all other objects, and every object
	// when it is empty, use the bucket default. Archive classes (GLACIER,
	// DEEP_ARCHIVE) and unknown words are refused by New.
	StorageClass string

	// Connections caps concurrent requests to the service. Zero means
	// DefaultConnections. Callers size their worker pools from it.
	Connections int

	// StallTimeout is how long one read of a response body may wait for
	// data before the connection is closed and the operation fails with a
	// transient error (which the retry decorator retries or resumes).
	// Zero means DefaultStallTimeout.
	StallTimeout time.Duration

	// Warn, when set, receives warnings that do not stop the operation:
	// the one that says the server refused conditional uploads and Put
	// falls back to plain PUTs, which may replace objects.
	Warn func(msg string)

	// Transport, when set, replaces the HTTP transport New would build;
	// CAFile and the connection-pool sizing then do not apply. Tests use
	// it to route requests through a fault-injecting proxy.
	Transport http.RoundTripper
}

// withEnvDefaults returns c with the credential fallbacks from the
// environment applied and defaults filled in. It is the only place the
// package reads the environment, and getenv is a parameter so tests need
// not touch the process environment.
func (c Config) withEnvDefaults(getenv func(string) string) Config {
	if c.AccessKey == "" && c.SecretKey == "" {
		c.AccessKey = getenv("AWS_ACCESS_KEY_ID")
		c.SecretKey = getenv("AWS_SECRET_ACCESS_KEY")
		if c.SessionToken == "" {
			c.SessionToken = getenv("AWS_SESSION_TOKEN")
		}
	}
	if c.Endpoint == "" {
		c.Endpoint = defaultEndpoint
	}
	if c.Connections <= 0 {
		c.Connections = DefaultConnections
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	if class, err := normalizeStorageClass(c.StorageClass); err == nil {
		c.StorageClass = class // validate reports the error
	}
	return c
}

// validate reports configuration mistakes before any request is made, with
// messages that say which setting to fix.
func (c Config) validate() error {
	if err := s3utils.CheckValidBucketName(c.Bucket); err != nil {
		return fmt.Errorf("s3: bucket %q: %w", c.Bucket, err)
	}
	if strings.Contains(c.Endpoint, "://") || strings.Contains(c.Endpoint, "/") {
		return fmt.Errorf("s3: endpoint %q must be host[:port] without scheme or path", c.Endpoint)
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return errors.New("s3: access key and secret key must be given together " +
			"(set both, or neither for anonymous access)")
	}
	if _, err := c.bucketLookup(); err != nil {
		return err
	}
	if _, err := normalizeStorageClass(c.StorageClass); err != nil {
		return err
	}
	return nil
}

func (c Config) bucketLookup() (minio.BucketLookupType, error) {
	switch c.Lookup {
	case "", "auto":
		return minio.BucketLookupAuto, nil
	case "path":
		return minio.BucketLookupPath, nil
	case "virtual", "dns":
		return minio.BucketLookupDNS, nil
	default:
		return 0, fmt.Errorf("s3: bucket lookup %q unknown; use auto, path or virtual", c.Lookup)
	}
}

// clientOptions builds minio-go's options. MaxRetries is 1 because the
// retry decorator (pkg/storage/retry) is cairn's single retry policy:
// retrying in two layers would multiply the attempts and hide the failures
// from the decorator's backoff and reporting.
func (c Config) clientOptions() (*minio.Options, error) {
	lookup, err := c.bucketLookup()
	if err != nil {
		return nil, err
	}
	transport := c.Transport
	if transport == nil {
		transport, err = c.buildTransport()
		if err != nil {
			return nil, err
		}
	}
	return &minio.Options{
		// Empty keys make NewStaticV4 sign nothing (anonymous access).
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, c.SessionToken),
		Secure:       !c.Insecure,
		Transport:    retryAfterTransport{stallTransport{transport, c.StallTimeout}},
		Region:       c.Region,
		BucketLookup: lookup,
		MaxRetries:   1,
	}, nil
}

// buildTransport starts from minio-go's defaults (no transparent gzip
// decoding, sane timeouts) and sizes the idle pool to the connection limit,
// so every allowed concurrent request can reuse a warm connection.
func (c Config) buildTransport() (*http.Transport, error) {
	tr, err := minio.DefaultTransport(!c.Insecure)
	if err != nil {
		return nil, fmt.Errorf("s3: build transport: %w", err)
	}
	tr.MaxIdleConnsPerHost = c.Connections
	tr.MaxIdleConns = c.Connections
	if c.CAFile == "" {
		return tr, nil
	}
	if c.Insecure {
		return nil, fmt.Errorf("s3: CA file %s given for a plain-HTTP endpoint", c.CAFile)
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("s3: read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("s3: CA file %s holds no PEM certificates", c.CAFile)
	}
	tr.TLSClientConfig.RootCAs = pool
	return tr, nil
}
