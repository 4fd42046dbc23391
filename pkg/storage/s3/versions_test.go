package s3_test

import (
	"bytes"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairn-backup/cairn/e2e/miniotest"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/s3"
	"github.com/cairn-backup/cairn/pkg/storage/storagetest"
)

// TestMinIOVersions checks the storage.Versioner methods against a MinIO
// bucket with versioning on, and Versioning on one without.
func TestMinIOVersions(t *testing.T) {
	srv := miniotest.Start(t)
	client, err := minio.New(srv.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(srv.RootUser, srv.RootPassword, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(bucket string) s3.Config {
		return s3.Config{Endpoint: srv.Endpoint, Bucket: bucket, Prefix: "repo", Insecure: true,
			AccessKey: srv.RootUser, SecretKey: srv.RootPassword, Region: "us-east-1"}
	}

	srv.MakeBucket(t, "plain")
	if on, err := mustNew(t, cfg("plain")).Versioning(t.Context()); err != nil || on {
		t.Errorf("Versioning of an unversioned bucket = %v, %v; want false", on, err)
	}

	srv.MakeBucket(t, "versioned")
	if err := client.EnableVersioning(t.Context(), "versioned"); err != nil {
		t.Fatalf("enable versioning: %v", err)
	}
	s := mustNew(t, cfg("versioned"))
	var _ storage.Versioner = s
	storagetest.RunVersions(t, s, func(t *testing.T, name string, data []byte) {
		// A plain PUT without If-None-Match, as any S3 client sends.
		_, err := client.PutObject(t.Context(), "versioned", "repo/"+name, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{DisableMultipart: true})
		if err != nil {
			t.Fatalf("overwrite %s: %v", name, err)
		}
	})
}
