package s3_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/cairn-backup/cairn/e2e/miniotest"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/backends"
	"github.com/cairn-backup/cairn/pkg/storage/retry"
	"github.com/cairn-backup/cairn/pkg/storage/s3"
	"github.com/cairn-backup/cairn/pkg/storage/storagetest"
)

// TestMinIO runs everything that needs a server against one MinIO started
// for the whole test; every subtest works in a bucket of its own.
func TestMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	buckets := 0
	newBucket := func(t *testing.T) string {
		buckets++
		name := fmt.Sprintf("cairn-test-%03d", buckets)
		srv.MakeBucket(t, name)
		return name
	}
	rootConfig := func(bucket, prefix string) s3.Config {
		return s3.Config{
			Endpoint:  srv.Endpoint,
			Bucket:    bucket,
			Prefix:    prefix,
			Insecure:  true,
			AccessKey: srv.RootUser,
			SecretKey: srv.RootPassword,
			Region:    "us-east-1",
		}
	}

	t.Run("Conformance", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Store {
			return mustNew(t, rootConfig(newBucket(t), "repos/one"))
		})
	})
	t.Run("ConformanceRetryBucketRoot", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Store {
			return retry.New(mustNew(t, rootConfig(newBucket(t), "")), retry.Policy{})
		})
	})
	t.Run("AppendOnlyCredentials", func(t *testing.T) {
		bucket := newBucket(t)
		srv.AddUser(t, "appendonly", "appendonly-secret", miniotest.AppendOnlyPolicy(bucket))
		cfg := rootConfig(bucket, "repo")
		cfg.AccessKey, cfg.SecretKey = "appendonly", "appendonly-secret"
		testAppendOnly(t, mustNew(t, cfg))
	})
	t.Run("MissingBucket", func(t *testing.T) {
		testMissingBucket(t, mustNew(t, rootConfig("cairn-no-such-bucket", "repo")))
	})
	t.Run("WrongCredentials", func(t *testing.T) {
		cfg := rootConfig(newBucket(t), "")
		cfg.SecretKey = "not-the-secret"
		s := mustNew(t, cfg)
		if err := s.Put(t.Context(), "config", []byte("x")); !errors.Is(err, storage.ErrPermission) {
			t.Errorf("Put with a wrong secret: got %v, want storage.ErrPermission", err)
		}
	})
	t.Run("Create", func(t *testing.T) {
		s := mustNew(t, rootConfig("cairn-created", "repo"))
		for i := range 2 { // the second Create finds the bucket
			if err := s.Create(t.Context()); err != nil {
				t.Fatalf("Create #%d: %v", i+1, err)
			}
		}
		if err := s.Put(t.Context(), "config", []byte("cfg")); err != nil {
			t.Fatalf("Put after Create: %v", err)
		}
		other := mustNew(t, rootConfig("cairn-created", "other"))
		if err := other.Create(t.Context()); err != nil {
			t.Errorf("Create of a second repository in the existing bucket: %v", err)
		}
	})
	t.Run("BackendsOpen", func(t *testing.T) {
		testBackendsOpen(t, srv)
	})
	t.Run("PrefixOnlyKey", func(t *testing.T) {
		testPrefixOnlyKey(t, srv, rootConfig(newBucket(t), "repo"))
	})
	t.Run("UploadHeaders", func(t *testing.T) {
		testUploadHeaders(t, rootConfig(newBucket(t), "repo"))
	})
	t.Run("Faults", func(t *testing.T) {
		testFaults(t, rootConfig(newBucket(t), "repo"))
	})
}

func mustNew(t *testing.T, cfg s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testAppendOnly(t *testing.T, s *s3.Store) {
	ctx := t.Context()
	name := "data/00/0011"
	if err := s.Put(ctx, name, []byte("pack")); err != nil {
		t.Fatalf("Put with append-only credentials: %v", err)
	}
	if got, err := storage.ReadAll(ctx, s, name); err != nil || string(got) != "pack" {
		t.Errorf("ReadAll = %q, %v", got, err)
	}
	if _, err := s.Stat(ctx, name); err != nil {
		t.Errorf("Stat: %v", err)
	}
	n := 0
	if err := s.List(ctx, "data/", func(storage.ObjectInfo) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("List: %d objects, %v", n, err)
	}
	err := s.Delete(ctx, name)
	if !errors.Is(err, storage.ErrPermission) {
		t.Fatalf("Delete with append-only credentials: got %v, want storage.ErrPermission", err)
	}
	if errors.Is(err, storage.ErrTransient) {
		t.Errorf("Delete error %v is also transient", err)
	}
	if _, err := s.Stat(ctx, name); err != nil {
		t.Errorf("object gone after the refused Delete: %v", err)
	}
}

func testMissingBucket(t *testing.T, s *s3.Store) {
	ctx := t.Context()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrNoRepository) {
			t.Errorf("%s on a missing bucket: got %v, want storage.ErrNoRepository", op, err)
		}
	}
	check("Put", s.Put(ctx, "config", []byte("x")))
	_, err := s.Get(ctx, "config", 0, -1)
	check("Get", err)
	_, err = s.Get(ctx, "config", 5, 10)
	check("ranged Get", err)
	_, err = s.Stat(ctx, "config")
	check("Stat", err)
	check("List", s.List(ctx, "", func(storage.ObjectInfo) error { return nil }))
	if err := s.Delete(ctx, "config"); err != nil && !errors.Is(err, storage.ErrNoRepository) {
		t.Errorf("Delete on a missing bucket: got %v, want nil or storage.ErrNoRepository", err)
	}
}

// testBackendsOpen opens a repository URL the way the CLI does: through
// backends.Open, which must return the retrying S3 store.
func testBackendsOpen(t *testing.T, srv *miniotest.Server) {
	ctx := t.Context()
	s, err := backends.Open(ctx, srv.URL("cairn-opened", "repo"), backends.Options{
		AccessKey: srv.RootUser, SecretKey: srv.RootPassword, PathStyle: backends.PathStylePath,
	})
	if err != nil {
		t.Fatalf("backends.Open: %v", err)
	}
	if c, ok := s.(storage.Closer); ok {
		defer c.Close()
	}
	if u, ok := s.(interface{ Unwrap() storage.Store }); !ok {
		t.Errorf("backends.Open returned %T, want the retry decorator", s)
	} else if _, ok := u.Unwrap().(*s3.Store); !ok {
		t.Errorf("backends.Open wraps %T, want *s3.Store", u.Unwrap())
	}
	if err := s.Put(ctx, "config", []byte("x")); !errors.Is(err, storage.ErrNoRepository) {
		t.Errorf("Put before Create: got %v, want storage.ErrNoRepository", err)
	}
	c, ok := s.(storage.Creator)
	if !ok {
		t.Fatalf("backends.Open returned %T, which is no storage.Creator", s)
	}
	if err := c.Create(ctx); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Put(ctx, "config", []byte("cfg")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got, err := storage.ReadAll(ctx, s, "config"); err != nil || string(got) != "cfg" {
		t.Errorf("ReadAll = %q, %v", got, err)
	}
}

// readAll reads a whole reader and closes it.
func readAll(rc io.ReadCloser) ([]byte, error) {
	defer rc.Close()
	return io.ReadAll(rc)
}
