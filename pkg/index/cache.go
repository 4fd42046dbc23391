package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// ErrCacheMiss means an index object is not usable from the local cache:
// absent, or present but corrupt (then the file has been removed). Callers
// download the object again and Store it.
var ErrCacheMiss = errors.New("index not in local cache")

// Cache file layout: body || trailer, where
//
//	trailer = uint64(len(body)) || uint32(CRC-32C(name || body)) || uint32(1) || "CAIRNIXC"
//
// The checksum covers the object name too, so a file copied or renamed to
// another object's name is rejected.
const (
	trailerMagic   = "CAIRNIXC"
	trailerVersion = 1
	trailerSize    = 8 + 4 + 4 + len(trailerMagic)
	tempPrefix     = ".tmp-"
	// staleTemp is the age after which Retain removes temporary files that
	// a crashed process left behind; younger ones may be another process's
	// Store in progress.
	staleTemp = time.Hour
)

// Cache is a directory of decrypted index bodies, one file per index
// object, named by the object's hex ID. Because the name is the hash of the
// stored object, a cached file can never be stale, only missing or corrupt;
// files whose objects have left the repository are removed by Retain.
// Files are created by rename and never modified in place, so several
// processes may share one cache directory.
//
// Views returned by Load read their file with pread(2) and stay usable
// until Close, even if Retain removes the file meanwhile (on Unix). A Cache
// is safe for concurrent use.
type Cache struct {
	dir    string
	table  *crc32.Table
	mu     sync.Mutex
	loaded map[crypto.ID]*View // file views, one per index object
	closed bool
}

// OpenCache opens (creating if needed) the cache directory dir.
func OpenCache(dir string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open index cache: %w", err)
	}
	return &Cache{
		dir:    dir,
		table:  crc32.MakeTable(crc32.Castagnoli),
		loaded: make(map[crypto.ID]*View),
	}, nil
}

// Dir returns the cache directory.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) path(name crypto.ID) string {
	return filepath.Join(c.dir, name.String())
}

// Store validates body (NewView and Validate: the cache only ever holds
// valid bodies, which is why Load need not re-check the entries) and writes
// it with its trailer under name, atomically: a temporary file renamed into
// place. It does not fsync: a file torn by a crash fails its checksum and is
// rebuilt, which is cheaper than syncing on every backup.
func (c *Cache) Store(name crypto.ID, body []byte) error {
	v, err := NewView(body)
	if err == nil {
		err = v.Validate()
	}
	if err != nil {
		return fmt.Errorf("cache index %s: %w", name, err)
	}
	f, err := os.CreateTemp(c.dir, tempPrefix+name.Short()+"-*")
	if err != nil {
		return fmt.Errorf("cache index %s: %w", name, err)
	}
	tmp := f.Name()
	err = writeCacheFile(f, c.trailer(name, body), body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.path(name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("cache index %s: %w", name, err)
	}
	return nil
}

func writeCacheFile(w io.Writer, trailer, body []byte) error {
	if _, err := w.Write(body); err != nil {
		return err
	}
	_, err := w.Write(trailer)
	return err
}

// trailer returns the trailer for body stored under name.
func (c *Cache) trailer(name crypto.ID, body []byte) []byte {
	sum := crc32.Update(crc32.Checksum(name[:], c.table), c.table, body)
	t := make([]byte, 0, trailerSize)
	t = binary.LittleEndian.AppendUint64(t, uint64(len(body)))
	t = binary.LittleEndian.AppendUint32(t, sum)
	t = binary.LittleEndian.AppendUint32(t, trailerVersion)
	return append(t, trailerMagic...)
}

// parseTrailer checks a trailer against the file size and returns the body
// length and checksum.
func parseTrailer(t []byte, fileSize int64) (int64, uint32, error) {
	if len(t) != trailerSize || string(t[16:]) != trailerMagic {
		return 0, 0, fmt.Errorf("%w: no cache trailer", ErrCorrupt)
	}
	n := binary.LittleEndian.Uint64(t)
	if v := binary.LittleEndian.Uint32(t[12:]); v != trailerVersion {
		return 0, 0, fmt.Errorf("%w: cache trailer version %d", ErrCorrupt, v)
	}
	if n != uint64(fileSize)-uint64(trailerSize) {
		return 0, 0, fmt.Errorf("%w: file of %d bytes, trailer says body of %d", ErrCorrupt, fileSize, n)
	}
	return int64(n), binary.LittleEndian.Uint32(t[8:]), nil
}

// Retain removes cached files whose names are not in names (index objects
// no longer in the repository), and temporary files older than an hour.
// Other files in the directory are left alone. Views already loaded stay
// valid until Close.
func (c *Cache) Retain(names []crypto.ID) error {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n.String()] = true
	}
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("prune index cache: %w", err)
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tempPrefix):
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < staleTemp {
				continue
			}
		case keep[name]:
			continue
		default:
			if _, err := crypto.ParseID(name); err != nil {
				continue
			}
		}
		if err := os.Remove(filepath.Join(c.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prune index cache: %w", err)
	}
	return nil
}

// Release closes the file behind the loaded view of name, if any, for an
// index object the caller no longer uses (say, one a merge superseded).
// That view must not be used afterwards.
func (c *Cache) Release(name crypto.ID) error {
	c.mu.Lock()
	v, ok := c.loaded[name]
	delete(c.loaded, name)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	if err := v.file.Close(); err != nil {
		return fmt.Errorf("close cached index %s: %w", name, err)
	}
	return nil
}

// Close closes every loaded file. Views returned by Load must not be used
// afterwards: they would find nothing and report the error from Err.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for name, v := range c.loaded {
		if err := v.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close cached index %s: %w", name, err))
		}
		delete(c.loaded, name)
	}
	return errors.Join(errs...)
}
