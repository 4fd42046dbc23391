package repo

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"golang.org/x/sync/singleflight"
)

// DefaultPackCacheSize is the bound on a repository's cached tree packs
// when OpenOptions.CacheMaxSize is zero.
const DefaultPackCacheSize = 512 << 20

const (
	// maxOpenPacks bounds the verified cache files a Repository keeps
	// open; idle ones beyond it are closed, least recently used first.
	maxOpenPacks = 256
	// treeBlobAllowance is what a tree pack may hold beyond the pack
	// size: writers close a pack once it reaches the target, so the last
	// blob sticks out.
	treeBlobAllowance = 32 << 20
	// packTempPrefix starts the names of files being downloaded.
	packTempPrefix = ".tmp-"
)

// packCacheDir is where the tree packs of repository id are cached.
func packCacheDir(base, id string) string { return filepath.Join(base, id, "packs") }

// packCache is the local cache of whole tree packs (see doc.go, "The local
// cache"). Files are named by the pack's ID, which is the SHA-256 of its
// bytes, so a file can never be stale, only damaged or foreign: each is
// hashed in full before this process first uses it, and a file that does
// not match its name is removed and the pack downloaded again. Files are
// created by rename and never changed in place, so processes can share
// the directory. It is safe for concurrent use.
type packCache struct {
	dir     string
	maxSize int64 // bound on the directory's bytes
	// wholeMax bounds one pack: larger ones are read by range, never
	// downloaded whole (a junk object costs at most this much disk).
	wholeMax int64
	now      func() time.Time

	flight singleflight.Group // one download per pack at a time

	mu    sync.Mutex
	open  map[crypto.ID]*cachedPack // verified files
	unfit map[crypto.ID]error       // packs read by range in this process, and why
	// size is the directory's bytes as of the last scan plus what this
	// process added since; -1 before the first scan.
	size   int64
	tick   uint64 // use counter for the open files' LRU
	closed bool
}

// cachedPack is an open, verified cache file.
type cachedPack struct {
	f       *os.File
	size    int64
	refs    int // readers using f now
	lastUse uint64
	evicted bool // no longer in open: the last release closes f
}

// openPackCache opens (creating) the pack cache of repository id under
// base, bounded to maxSize bytes, for packs of the configured packSize.
func openPackCache(base, id string, maxSize int64, packSize int) (*packCache, error) {
	dir := packCacheDir(base, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open tree pack cache: %w", err)
	}
	if maxSize <= 0 {
		maxSize = DefaultPackCacheSize
	}
	now := time.Now()
	// The repository directory's time says when it was last used, for
	// cairn cache --cleanup.
	_ = os.Chtimes(filepath.Dir(dir), now, now)
	return &packCache{
		dir: dir, maxSize: maxSize, wholeMax: min(int64(packSize)+treeBlobAllowance, maxSize/2), now: time.Now,
		open: make(map[crypto.ID]*cachedPack), unfit: make(map[crypto.ID]error), size: -1,
	}, nil
}

func (c *packCache) path(id crypto.ID) string { return filepath.Join(c.dir, id.String()) }

// errPackClosed means the cache was closed while a read waited for it.
var errPackClosed = errors.New("tree pack cache closed")

// load returns the plaintext of tree blob e from its cached pack,
// downloading the pack first when it is not cached. served is false when
// the cache cannot serve e: the pack is too large, damaged or could not be
// downloaded, or the blob failed to read or open from the local file. The
// caller then reads it by range, which reports any failure as the store
// shows it: the local copy is never the judge of damage in the repository.
func (c *packCache) load(ctx context.Context, r *Repository, e index.Entry) (plain []byte, served bool, err error) {
	p, err := c.acquire(ctx, r, e.Pack)
	if err != nil {
		if ctx.Err() != nil {
			return nil, true, ctx.Err()
		}
		return nil, false, nil
	}
	defer c.release(p)
	if entryEnd(e) > p.size {
		c.markUnfit(e.Pack, fmt.Errorf("entry %s ends beyond the cached pack", e.ID.Short()))
		return nil, false, nil
	}
	sealed := make([]byte, e.Length)
	if _, err := p.f.ReadAt(sealed, int64(e.Offset)); err != nil {
		c.markUnfit(e.Pack, err)
		return nil, false, nil
	}
	plain, err = r.OpenBlob(e.Type, e.ID, sealed)
	if err != nil {
		// The file matched the pack's name when opened; whether the pack
		// or the file is bad, the store says.
		c.markUnfit(e.Pack, err)
		return nil, false, nil
	}
	return plain, true, nil
}

// markUnfit makes this process read pack id by range from now on.
func (c *packCache) markUnfit(id crypto.ID, err error) {
	c.mu.Lock()
	c.unfit[id] = err
	c.mu.Unlock()
}

// acquire returns the verified cache file of pack id, downloading it when
// needed; the caller releases it. Concurrent calls for one pack share one
// download. An error means the pack is to be read by range.
func (c *packCache) acquire(ctx context.Context, r *Repository, id crypto.ID) (*cachedPack, error) {
	for attempt := 0; ; attempt++ {
		if p, err := c.take(id); p != nil || err != nil {
			return p, err
		}
		_, err, _ := c.flight.Do(id.String(), func() (any, error) { return nil, c.fill(ctx, r, id) })
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if isCtxErr(err) && attempt < 3 {
			continue // another caller's download was cancelled, not ours
		}
		if err != nil {
			return nil, err
		}
		if p, err := c.take(id); p != nil || err != nil || attempt >= 3 {
			if p == nil && err == nil {
				err = fmt.Errorf("cached pack %s: closed while in use", id.Short())
			}
			return p, err
		}
	}
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// take returns the open file of pack id with a reference, or nil, or the
// reason the pack is read by range.
func (c *packCache) take(id crypto.ID) (*cachedPack, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errPackClosed
	}
	if err := c.unfit[id]; err != nil {
		return nil, err
	}
	p := c.open[id]
	if p != nil {
		c.tick++
		p.refs++
		p.lastUse = c.tick
	}
	return p, nil
}

func (c *packCache) release(p *cachedPack) {
	c.mu.Lock()
	p.refs--
	if p.refs == 0 && p.evicted {
		p.f.Close()
	}
	c.mu.Unlock()
}

// fill makes pack id available in c.open: from its cache file when that is
// intact, else downloaded. Failures other than ctx's mark the pack unfit
// for this process.
func (c *packCache) fill(ctx context.Context, r *Repository, id crypto.ID) error {
	if p, _ := c.take(id); p != nil { // filled while we queued
		c.release(p)
		return nil
	}
	if f, size, ok := c.openVerified(r, id); ok {
		return c.register(id, f, size, 0)
	}
	f, size, err := c.download(ctx, r, id)
	if err != nil {
		if ctx.Err() == nil {
			c.markUnfit(id, err)
		}
		return err
	}
	return c.register(id, f, size, size)
}

// openVerified opens the cache file of pack id if it is there and its
// SHA-256 matches id. A file that does not match, or is larger than a tree
// pack can be, is removed: it is never used.
func (c *packCache) openVerified(r *Repository, id crypto.ID) (*os.File, int64, bool) {
	path := c.path(id)
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, false
	}
	info, err := f.Stat()
	bad := err != nil || !info.Mode().IsRegular() || info.Size() > c.wholeMax
	if !bad {
		h := sha256.New()
		_, err = io.Copy(h, f)
		bad = err != nil || crypto.ID(h.Sum(nil)) != id
	}
	if bad {
		f.Close()
		if rmErr := os.Remove(path); rmErr == nil {
			r.warn(path, fmt.Errorf("cached tree pack does not match its name: removed, downloading it again"))
		}
		return nil, 0, false
	}
	now := c.now()
	_ = os.Chtimes(path, now, now) // recently used: evicted last
	return f, info.Size(), true
}

// download reads pack id whole (one request, at most wholeMax bytes) into
// a temporary file, which becomes the cache file once the pack's hash has
// matched its name. The file is returned open.
func (c *packCache) download(ctx context.Context, r *Repository, id crypto.ID) (*os.File, int64, error) {
	f, err := os.CreateTemp(c.dir, packTempPrefix+id.Short()+"-*")
	if err != nil {
		return nil, 0, fmt.Errorf("cache %s: %w", PackName(id), err)
	}
	tmp := f.Name()
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		_ = os.Remove(tmp)
		return nil, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = r.LoadPackBlobs(ctx, id, nil, PackReadOptions{WholePack: true, Copy: w, MaxSize: c.wholeMax},
		func(index.Entry, []byte, error) error { return nil })
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return fail(err)
	}
	info, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("cache %s: %w", PackName(id), err))
	}
	if err := os.Rename(tmp, c.path(id)); err != nil {
		return fail(fmt.Errorf("cache %s: %w", PackName(id), err))
	}
	return f, info.Size(), nil
}

// keep stores tree pack id, which this process has just uploaded (data
// is its exact bytes, so its hash is id), so that the next walk over its
// trees needs no download. Failures are ignored: the cache is never
// needed, and a file that is not written completely is never renamed
// into place.
func (c *packCache) keep(id crypto.ID, data []byte) {
	if int64(len(data)) > c.wholeMax {
		return
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return
	}
	if _, err := os.Stat(c.path(id)); err == nil {
		return
	}
	f, err := os.CreateTemp(c.dir, packTempPrefix+id.Short()+"-*")
	if err != nil {
		return
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.path(id))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return
	}
	c.mu.Lock()
	scan, over := c.size < 0, false
	if !scan {
		c.size += int64(len(data))
		over = c.size > c.maxSize
	}
	c.mu.Unlock()
	if scan || over {
		c.evict(id)
	}
}

// register adds an open verified file to c.open, closing idle files beyond
// maxOpenPacks, and accounts added new bytes in the directory.
func (c *packCache) register(id crypto.ID, f *os.File, size, added int64) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		f.Close()
		return errPackClosed
	}
	c.tick++
	c.open[id] = &cachedPack{f: f, size: size, lastUse: c.tick}
	c.closeIdleLocked()
	over := false
	if added > 0 && c.size >= 0 {
		c.size += added
		over = c.size > c.maxSize
	}
	scan := c.size < 0
	c.mu.Unlock()
	if scan || over {
		c.evict(id)
	}
	return nil
}

// closeIdleLocked closes the least recently used idle files while more
// than maxOpenPacks are open.
func (c *packCache) closeIdleLocked() {
	for len(c.open) > maxOpenPacks {
		var oldest crypto.ID
		var found *cachedPack
		for id, p := range c.open {
			if p.refs == 0 && (found == nil || p.lastUse < found.lastUse) {
				oldest, found = id, p
			}
		}
		if found == nil {
			return // all in use; they are released soon
		}
		found.f.Close()
		delete(c.open, oldest)
	}
}

// close closes every open file.
func (c *packCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for id, p := range c.open {
		if err := p.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close cached pack %s: %w", id.Short(), err))
		}
		delete(c.open, id)
	}
	return errors.Join(errs...)
}
