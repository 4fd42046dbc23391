package s3_test

import (
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/e2e/miniotest"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/s3"
)

// prefixOnlyPolicy lets a key list, read, write and delete objects under
// prefix/ of bucket, and nothing else: no HeadBucket (which S3 authorises
// as an unconditioned ListBucket), no CreateBucket, no GetBucketLocation.
func prefixOnlyPolicy(bucket, prefix string) string {
	return `{"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::` + bucket + `"],
 "Condition":{"StringLike":{"s3:prefix":["` + prefix + `/*"]}}},
{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],
 "Resource":["arn:aws:s3:::` + bucket + `/` + prefix + `/*"]}]}`
}

// testPrefixOnlyKey: init with a key that may not HEAD or create the
// bucket, but may write objects under its prefix, proceeds: Create
// succeeds, and the config can be looked for and written.
func testPrefixOnlyKey(t *testing.T, srv *miniotest.Server, cfg s3.Config) {
	srv.AddUser(t, "prefixonly", "prefixonly-secret", prefixOnlyPolicy(cfg.Bucket, cfg.Prefix))
	cfg.AccessKey, cfg.SecretKey = "prefixonly", "prefixonly-secret"
	s := mustNew(t, cfg)
	if err := s.Create(t.Context()); err != nil {
		t.Fatalf("Create with a key that may only write objects under the prefix: %v", err)
	}
	if _, err := s.Stat(t.Context(), "config"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat of the missing config: %v, want storage.ErrNotFound", err)
	}
	if err := s.Put(t.Context(), "config", []byte("cfg")); err != nil {
		t.Fatalf("Put of the config: %v", err)
	}
	if err := s.List(t.Context(), "", func(storage.ObjectInfo) error { return nil }); err != nil {
		t.Errorf("List under the prefix: %v", err)
	}

	// A whole init with that key: bucket check, config check, key file
	// and config written and read back, then opened.
	sub := cfg
	sub.Prefix = cfg.Prefix + "/sub"
	store := mustNew(t, sub)
	pass := []byte("prefix-only passphrase")
	r, err := repo.Init(t.Context(), store, pass, repo.InitOptions{KDF: crypto.TestKDF(), Host: "h", Username: "u"})
	if err != nil {
		t.Fatalf("init with a key that may only write objects under the prefix: %v", err)
	}
	r.Close()
	r, err = repo.Open(t.Context(), store, pass, repo.OpenOptions{})
	if err != nil {
		t.Fatalf("open after init with the prefix-only key: %v", err)
	}
	r.Close()

	// The same key on a bucket that does not exist: Create cannot tell,
	// and the next request says there is no repository location.
	cfg.Bucket = "cairn-prefixonly-missing"
	missing := mustNew(t, cfg)
	err = missing.Create(t.Context())
	if err == nil {
		_, err = missing.Stat(t.Context(), "config")
	}
	if !errors.Is(err, storage.ErrPermission) && !errors.Is(err, storage.ErrNoRepository) {
		t.Errorf("Create+Stat on a missing bucket: %v, want permission denied or no repository", err)
	}
}
