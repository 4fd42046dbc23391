package local

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// List walks only the part of the tree that can hold names with the prefix:
// it starts in the directory named by the prefix up to its last '/' and
// skips subdirectories that cannot match. A file system returns directory
// entries in no useful order, and even a sorted walk does not give byte
// order of full names ("a-b" < "a/c" < "a0"), so the matches are collected
// and sorted before fn sees them.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: list %q: %w", prefix, err)
	}
	if err := storage.ValidPrefix(prefix); err != nil {
		return fmt.Errorf("local: list: %w", err)
	}
	if err := s.checkRoot(); err != nil {
		return fmt.Errorf("local: list %q: %w", prefix, err)
	}
	infos, err := s.collect(ctx, prefix)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("local: list %q: %w", prefix, err)
		}
		return s.writeErr("list", fmt.Sprintf("%q", prefix), err)
	}
	slices.SortFunc(infos, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
	for _, fi := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("local: list %q: %w", prefix, err)
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

// collect returns the objects whose names start with prefix, unsorted.
func (s *Store) collect(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	start := s.root
	if dir := prefixDir(prefix); dir != "" {
		start = s.path(dir)
	}
	var infos []storage.ObjectInfo
	walk := func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// A missing start directory means no objects; entries
			// deleted while we walk are simply gone.
			if isNotExist(err) {
				if path == start {
					return fs.SkipAll
				}
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if path == start {
			if !d.IsDir() {
				return fs.SkipAll // an object, not a directory, named like the prefix's directory part
			}
			return nil
		}
		if !isObjectSegment(d.Name()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(s.root, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			if !dirMayMatch(name, prefix) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(name, prefix) {
			return nil
		}
		fi, err := d.Info()
		if isNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		infos = append(infos, storage.ObjectInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	}
	if err := filepath.WalkDir(start, walk); err != nil {
		return nil, err
	}
	return infos, nil
}

// prefixDir returns the directory part of a List prefix: where the walk
// starts.
func prefixDir(prefix string) string {
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		return prefix[:i]
	}
	return ""
}

// dirMayMatch reports whether the directory holding the objects "dir/..."
// can contain names starting with prefix: either the prefix ends inside the
// directory's subtree or it continues below it.
func dirMayMatch(dir, prefix string) bool {
	return strings.HasPrefix(dir+"/", prefix) || strings.HasPrefix(prefix, dir+"/")
}

// isObjectSegment reports whether a directory entry can be part of an object
// name. Temporary files and foreign entries ("System Volume Information",
// ".DS_Store", "Thumbs.db") are not.
func isObjectSegment(base string) bool {
	if strings.HasPrefix(base, tempPrefix) || strings.ContainsRune(base, '/') {
		return false
	}
	return storage.ValidName(base) == nil
}
