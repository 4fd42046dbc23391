package repo

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// staleTempPack is the age after which a temporary file is a crashed
// download's leftover rather than another process's download in progress.
const staleTempPack = time.Hour

// cacheFile is one pack file found by a scan.
type cacheFile struct {
	name  string
	size  int64
	mtime time.Time
}

// evict scans the directory and, when its pack files exceed maxSize,
// removes the least recently used (oldest modification time: a file's
// time is set when it is stored and when a process first uses it; this
// process's own use counts most) until
// they fill at most nine tenths of it, so that a full cache is not scanned
// again on every download. keep, just stored, is never removed. Other
// processes may add and remove files meanwhile; the next scan sees them.
// Stale temporary files are removed too. Failures only leave the cache
// larger: it is a cache.
func (c *packCache) evict(keep crypto.ID) {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	var files []cacheFile
	var total int64
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		name := e.Name()
		if strings.HasPrefix(name, packTempPrefix) {
			if c.now().Sub(info.ModTime()) > staleTempPack {
				_ = os.Remove(filepath.Join(c.dir, name))
			}
			continue
		}
		if _, err := crypto.ParseID(name); err != nil {
			continue // not ours
		}
		files = append(files, cacheFile{name, info.Size(), info.ModTime()})
		total += info.Size()
	}
	if total > c.maxSize {
		// Files this process has open were used more recently than their
		// times say (a file's time is set once per process): they go
		// last, in the order this process used them.
		c.mu.Lock()
		used := make(map[string]uint64, len(c.open))
		for id, p := range c.open {
			used[id.String()] = p.lastUse
		}
		c.mu.Unlock()
		slices.SortFunc(files, func(a, b cacheFile) int {
			ua, oka := used[a.name]
			ub, okb := used[b.name]
			switch {
			case oka && okb:
				return cmp.Compare(ua, ub)
			case oka != okb:
				if oka {
					return 1
				}
				return -1
			}
			return cmp.Or(a.mtime.Compare(b.mtime), strings.Compare(a.name, b.name))
		})
		target := c.maxSize / 10 * 9
		for _, f := range files {
			if total <= target {
				break
			}
			if f.name == keep.String() {
				continue
			}
			err := os.Remove(filepath.Join(c.dir, f.name))
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				total -= f.size
				c.forget(f.name)
			}
		}
	}
	c.mu.Lock()
	c.size = total
	c.mu.Unlock()
}

// forget drops the open file of an evicted pack, so that its next use
// downloads and caches it again rather than read a file no longer in the
// cache; a file in use is closed by its last release.
func (c *packCache) forget(name string) {
	id, err := crypto.ParseID(name)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.open[id]
	if p == nil {
		return
	}
	delete(c.open, id)
	if p.refs == 0 {
		p.f.Close()
	} else {
		p.evicted = true
	}
}
