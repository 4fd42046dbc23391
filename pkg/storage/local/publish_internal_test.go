package local

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestPublishPrimitives runs each way of publishing a temporary file, not
// only the one this file system picks: both must refuse an existing target
// and leave it untouched, and both must leave no temporary name behind.
func TestPublishPrimitives(t *testing.T) {
	ways := map[string]func(tmp, target string) error{
		"publish":       publish,
		"linkNoReplace": linkNoReplace,
	}
	for name, fn := range ways {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tmp, target := filepath.Join(dir, ".tmp-0000000000000001"), filepath.Join(dir, "obj")
			write := func(p, content string) {
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write(tmp, "first")
			if err := fn(tmp, target); err != nil {
				t.Fatalf("publish onto a free name: %v", err)
			}
			if _, err := os.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("temporary name still there after publishing (lstat: %v)", err)
			}
			write(tmp, "second")
			if err := fn(tmp, target); !errors.Is(err, fs.ErrExist) {
				t.Errorf("publish onto an existing name: %v, want fs.ErrExist", err)
			}
			if got, _ := os.ReadFile(target); string(got) != "first" {
				t.Errorf("target after a refused publish = %q, want %q", got, "first")
			}
		})
	}
}
