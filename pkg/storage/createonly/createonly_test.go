package createonly_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
	"github.com/cairn-backup/cairn/pkg/storage/storagetest"
)

func TestCreateOnly(t *testing.T) {
	ctx := context.Background()
	s := createonly.New(mem.New())
	if err := s.Put(ctx, "a/b", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a/b", []byte("two")); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("replace: got %v, want ErrExists", err)
	}
	if got, _ := storage.ReadAll(ctx, s, "a/b"); string(got) != "one" {
		t.Fatalf("content after refused replace: %q", got)
	}
	if err := s.Delete(ctx, "a/b"); !errors.Is(err, storage.ErrPermission) {
		t.Fatalf("delete: got %v, want ErrPermission", err)
	}
	if _, err := s.Stat(ctx, "a/b"); err != nil {
		t.Fatalf("object gone after refused delete: %v", err)
	}
}

func TestCapabilitiesAreKept(t *testing.T) {
	storagetest.CheckCapabilities(t, func(inner storage.Store) storage.Store { return createonly.New(inner) })
}
