package backends_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/backends"
)

func TestOpenLocal(t *testing.T) {
	ctx := t.Context()
	base := t.TempDir()
	plain, url := filepath.Join(base, "plain"), filepath.Join(base, "url")
	for _, loc := range []string{plain, "file://" + filepath.ToSlash(url)} {
		s, err := backends.Open(ctx, loc, backends.Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", loc, err)
		}
		if _, err := s.Stat(ctx, "config"); !errors.Is(err, storage.ErrNoRepository) {
			t.Errorf("Stat before Create: %v, want ErrNoRepository", err)
		}
		c, ok := s.(storage.Creator)
		if !ok {
			t.Fatalf("local store from Open(%q) does not implement storage.Creator", loc)
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
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		loc      string
		opts     backends.Options
		wantText string
	}{
		{"sftp://host/x", backends.Options{}, "unsupported scheme"},
		{"s3://host:9000/bucket", backends.Options{CAFile: "/nonexistent/ca.pem"}, "CA file"},
		{"s3://host:9000/bucket", backends.Options{PathStyle: "dns"}, "path style"},
		{"s3://host:9000/bucket", backends.Options{Connections: -1}, "connections"},
		{"s3://host:9000/bucket", backends.Options{AccessKey: "k"}, "secret key"},
	}
	for _, tc := range tests {
		s, err := backends.Open(ctx, tc.loc, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("Open(%q, %+v) = %v, %v; want an error containing %q", tc.loc, tc.opts, s, err, tc.wantText)
		}
		if s != nil {
			t.Errorf("Open(%q) returned a non-nil store with its error", tc.loc)
		}
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := backends.Open(cancelled, t.TempDir(), backends.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context: %v, want context.Canceled", err)
	}
}
