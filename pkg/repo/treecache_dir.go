package repo

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// CacheUsage describes the local cache of one repository under a cache
// directory (OpenOptions.CacheDir): CacheDir/<ID>/index and /packs.
type CacheUsage struct {
	// ID is the repository ID (Config.ID) and Dir the cache's directory.
	ID, Dir string
	// LastUsed is when a process last opened the repository with this
	// cache (the directory's modification time, which Open sets).
	LastUsed time.Time
	// IndexFiles and IndexBytes count the cached index bodies, PackFiles
	// and PackBytes the cached tree packs.
	IndexFiles, PackFiles int
	IndexBytes, PackBytes int64
}

// ListCaches returns the repository caches under base, least recently used
// first. Entries that are not repository caches (names other than 64 hex
// digits) are left out; a missing base gives none.
func ListCaches(base string) ([]CacheUsage, error) {
	ents, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list caches in %s: %w", base, err)
	}
	var out []CacheUsage
	for _, e := range ents {
		if !e.IsDir() || !isRepoID(e.Name()) {
			continue
		}
		u := CacheUsage{ID: e.Name(), Dir: filepath.Join(base, e.Name())}
		if info, err := e.Info(); err == nil {
			u.LastUsed = info.ModTime()
		}
		u.IndexFiles, u.IndexBytes = dirUsage(cacheDir(base, u.ID))
		u.PackFiles, u.PackBytes = dirUsage(packCacheDir(base, u.ID))
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b CacheUsage) int { return a.LastUsed.Compare(b.LastUsed) })
	return out, nil
}

// RemoveCache removes the cache of repository id under base. Processes
// using it keep their open files (on Unix) and later rebuild what they
// need: nothing in a cache is needed to read a repository.
func RemoveCache(base, id string) error {
	if !isRepoID(id) {
		return fmt.Errorf("remove cache %q: not a repository ID", id)
	}
	if err := os.RemoveAll(filepath.Join(base, id)); err != nil {
		return fmt.Errorf("remove cache of repository %s: %w", id, err)
	}
	return nil
}

// isRepoID reports whether name looks like a repository ID: 64 lower-case
// hex digits (newConfig makes them).
func isRepoID(name string) bool {
	if len(name) != 64 || strings.ToLower(name) != name {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil
}

// dirUsage counts the regular files in dir and their bytes (temporary
// files included: they take space too).
func dirUsage(dir string) (int, int64) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	var n int
	var size int64
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n++
			size += info.Size()
		}
	}
	return n, size
}
