package index

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// Load returns a view of the cached body of index object name. Every
// failure is a miss (errors.Is(err, ErrCacheMiss)), since the cache is only
// ever an optimisation: an absent file; a corrupt one, which is removed
// (the error then also matches ErrCorrupt); or an I/O error, which the
// error also wraps. Loading the same name twice returns the same view.
//
// Load reads the file once, with read(2) through a 48 KiB buffer, to check
// the trailer and the CRC-32C of the whole body and to build the view's
// fence table and fingerprints; it does not re-check the order of the
// entries, since Store validated them before writing and the checksum
// proves the bytes are still the ones it wrote. The file then stays open: the view reads it with
// pread(2). See doc.go for why a CRC and not SHA-256, and why not mmap.
func (c *Cache) Load(name crypto.ID) (*View, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("load cached index %s: %w: cache closed", name, ErrCacheMiss)
	}
	if v, ok := c.loaded[name]; ok {
		c.mu.Unlock()
		return v, nil
	}
	c.mu.Unlock()

	view, err := c.open(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.loaded[name]; ok || c.closed {
		// Another goroutine won the race, or the cache closed meanwhile.
		_ = view.file.Close()
		if ok {
			return v, nil
		}
		return nil, fmt.Errorf("load cached index %s: %w: cache closed", name, ErrCacheMiss)
	}
	c.loaded[name] = view
	return view, nil
}

// open reads and checks one cache file; corrupt files are removed.
func (c *Cache) open(name crypto.ID) (*View, error) {
	path := c.path(name)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrCacheMiss, name)
	}
	if err != nil {
		return nil, fmt.Errorf("load cached index %s: %w: %w", name, ErrCacheMiss, err)
	}
	view, err := c.read(f, name)
	if err == nil {
		return view, nil
	}
	_ = f.Close()
	if errors.Is(err, ErrCorrupt) {
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
		return nil, fmt.Errorf("cached index %s removed: %w: %w", name, ErrCacheMiss, err)
	}
	return nil, fmt.Errorf("load cached index %s: %w: %w", name, ErrCacheMiss, err)
}

// read checks the trailer and the checksum of an open cache file and returns
// a file view of its body. Errors about the content wrap ErrCorrupt.
func (c *Cache) read(f *os.File, name crypto.ID) (*View, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < int64(trailerSize+headerSize) {
		return nil, fmt.Errorf("%w: cache file of %d bytes is too short", ErrCorrupt, size)
	}
	trailer := make([]byte, trailerSize)
	if _, err := f.ReadAt(trailer, size-int64(trailerSize)); err != nil {
		return nil, err
	}
	bodyLen, want, err := parseTrailer(trailer, size)
	if err != nil {
		return nil, err
	}
	header := make([]byte, headerSize)
	if _, err := f.ReadAt(header, 0); err != nil {
		return nil, err
	}
	v, err := newLayout(header, bodyLen)
	if err != nil {
		return nil, err
	}
	got, err := c.scanFile(f, name, v)
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, fmt.Errorf("%w: cache file checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	v.file = f
	return v, nil
}

// scanFile streams the body of an open cache file once: it returns the
// CRC-32C of name || body and fills in v's supersedes list, fences and
// fingerprints.
func (c *Cache) scanFile(f *os.File, name crypto.ID, v *View) (uint32, error) {
	crc := crc32.Update(0, c.table, name[:])
	r := io.NewSectionReader(f, 0, int64(v.entOff)+int64(v.nentries)*recordSize)
	buf := make([]byte, scanChunk*recordSize)
	// Header and pack table: checksum only.
	for left := v.supOff; left > 0; {
		n := min(left, len(buf))
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return 0, truncated(err)
		}
		crc = crc32.Update(crc, c.table, buf[:n])
		left -= n
	}
	sup := make([]byte, v.entOff-v.supOff)
	if _, err := io.ReadFull(r, sup); err != nil {
		return 0, truncated(err)
	}
	crc = crc32.Update(crc, c.table, sup)
	v.sup = make([]crypto.ID, v.nsup)
	for i := range v.sup {
		v.sup[i] = crypto.ID(sup[i*crypto.IDSize:])
	}
	// Entries, in whole records, so that fences never straddle reads.
	v.fences = make([]uint64, 0, (v.nentries+fenceStride-1)/fenceStride)
	v.fps = make([]uint16, v.nentries)
	for i := 0; i < v.nentries; {
		n := min(scanChunk, v.nentries-i)
		chunk := buf[:n*recordSize]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return 0, truncated(err)
		}
		crc = crc32.Update(crc, c.table, chunk)
		fps := v.fps[i : i+n]
		for j, r := 0, chunk; j < len(fps) && len(r) >= recordSize; j, r = j+1, r[recordSize:] {
			fps[j] = fingerprint(r)
		}
		for j := (i + fenceStride - 1) / fenceStride * fenceStride; j < i+n; j += fenceStride {
			v.fences = append(v.fences, prefix(chunk[(j-i)*recordSize:]))
		}
		i += n
		if i == v.nentries {
			v.first, v.last = v.fences[0], prefix(chunk[len(chunk)-recordSize:])
		}
	}
	return crc, nil
}

// truncated reports a file that ended early (it shrank after Stat) as
// corrupt, and other read errors as they are.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: cache file shrank while reading", ErrCorrupt)
	}
	return err
}

// LoadOrFetch returns the cached view of name, or, on a miss, calls fetch
// for the body (the caller downloads, authenticates and decrypts the index
// object), stores it and returns a view of the cached copy. If the body
// cannot be cached (read-only or full disk) it returns an in-memory view of
// the validated body instead: the cache is never required.
func (c *Cache) LoadOrFetch(name crypto.ID, fetch func() ([]byte, error)) (*View, error) {
	v, err := c.Load(name)
	if err == nil {
		return v, nil
	}
	body, err := fetch()
	if err != nil {
		return nil, fmt.Errorf("fetch index %s: %w", name, err)
	}
	if err := c.Store(name, body); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		return memoryView(name, body)
	}
	if v, err := c.Load(name); err == nil {
		return v, nil
	}
	return memoryView(name, body)
}

// memoryView validates body and returns a view of it.
func memoryView(name crypto.ID, body []byte) (*View, error) {
	v, err := NewView(body)
	if err == nil {
		err = v.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", name, err)
	}
	return v, nil
}
