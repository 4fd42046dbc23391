package mem_test

import (
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
	"github.com/cairn-backup/cairn/pkg/storage/retry"
	"github.com/cairn-backup/cairn/pkg/storage/storagetest"
)

func TestVersioner(t *testing.T) {
	s := mem.NewVersioned()
	storagetest.RunVersions(t, s, func(_ *testing.T, name string, data []byte) { s.Overwrite(name, data) })
}

func TestVersionedPutNeverReplaces(t *testing.T) {
	ctx := t.Context()
	s := mem.NewVersioned()
	if err := s.Put(ctx, "keys/ab", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "keys/ab", []byte("two")); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second Put: %v, want ErrExists", err)
	}
	s.Hide("keys/ab")
	if err := s.Put(ctx, "keys/ab", []byte("three")); err != nil {
		t.Fatalf("Put behind a delete marker: %v", err)
	}
	if got, _ := storage.ReadAll(ctx, s, "keys/ab"); string(got) != "three" {
		t.Errorf("current = %q", got)
	}
	s.SetVersioning(false)
	if on, _ := s.Versioning(ctx); on {
		t.Error("Versioning after SetVersioning(false) = true")
	}
}

// The retry decorator wraps every S3 store the CLI opens; AsVersioner must
// find the capability through it.
func TestAsVersionerThroughRetry(t *testing.T) {
	s := mem.NewVersioned()
	if v, ok := storage.AsVersioner(retry.New(s, retry.Policy{})); !ok || v != storage.Versioner(s) {
		t.Errorf("AsVersioner(retry.New(versioned)) = %v, %v", v, ok)
	}
	if _, ok := storage.AsVersioner(mem.New()); ok {
		t.Error("AsVersioner(mem.New()) found a Versioner")
	}
}
