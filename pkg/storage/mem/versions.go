package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
)

var (
	_ storage.Store     = (*Versioned)(nil)
	_ storage.Versioner = (*Versioned)(nil)
)

// Versioned is an in-memory store that keeps every version of every object,
// like an S3 bucket with versioning on: Delete adds a delete marker, and
// the old versions stay readable through storage.Versioner. Put never
// replaces (storage.ErrExists); Overwrite and Hide play a client whose
// credentials may replace and delete objects, the attacks a versioned
// bucket undoes. Build it with NewVersioned; it is safe for concurrent use.
type Versioned struct {
	mu      sync.Mutex
	objects map[string][]version // oldest first
	next    int                  // for version IDs
	clock   time.Time            // strictly increasing modification times
	off     bool                 // versioning suspended (SetVersioning)
}

type version struct {
	id      string
	data    []byte // nil for a delete marker
	marker  bool
	modTime time.Time
}

// NewVersioned returns an empty versioned in-memory store.
func NewVersioned() *Versioned {
	return &Versioned{objects: make(map[string][]version)}
}

// SetVersioning sets what Versioning reports. It changes nothing else: the
// store always keeps versions.
func (s *Versioned) SetVersioning(on bool) {
	s.mu.Lock()
	s.off = !on
	s.mu.Unlock()
}

// add appends a version of name; callers hold s.mu.
func (s *Versioned) add(name string, data []byte, marker bool) {
	s.next++
	now := time.Now()
	if !now.After(s.clock) {
		now = s.clock.Add(time.Microsecond)
	}
	s.clock = now
	v := version{id: "v" + strconv.Itoa(s.next), marker: marker, modTime: now}
	if !marker {
		v.data = bytes.Clone(data)
		if v.data == nil {
			v.data = []byte{}
		}
	}
	s.objects[name] = append(s.objects[name], v)
}

// current returns the current version of name, if it is not deleted;
// callers hold s.mu.
func (s *Versioned) current(name string) (version, bool) {
	vs := s.objects[name]
	if len(vs) == 0 || vs[len(vs)-1].marker {
		return version{}, false
	}
	return vs[len(vs)-1], true
}

// Put creates name, or fails with storage.ErrExists when it is there (a
// name behind a delete marker counts as absent).
func (s *Versioned) Put(ctx context.Context, name string, data []byte) error {
	if err := check(ctx, "put", name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.current(name); ok {
		return fmt.Errorf("mem: put %s: %w", name, storage.ErrExists)
	}
	s.add(name, data, false)
	return nil
}

// Overwrite stores data as the new current version of name whether or not
// it exists: what a plain S3 PUT without If-None-Match does.
func (s *Versioned) Overwrite(name string, data []byte) {
	s.mu.Lock()
	s.add(name, data, false)
	s.mu.Unlock()
}

// Hide adds a delete marker to name, as Delete does; it is Delete without
// the context for tests that play an attacker.
func (s *Versioned) Hide(name string) {
	s.mu.Lock()
	if _, ok := s.current(name); ok {
		s.add(name, nil, true)
	}
	s.mu.Unlock()
}

// Get reads the current version.
func (s *Versioned) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := check(ctx, "get", name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	v, ok := s.current(name)
	s.mu.Unlock()
	if !ok {
		return nil, notFound("get", name)
	}
	return readRange(name, v.data, offset, length)
}

func readRange(name string, data []byte, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("mem: get %s: negative offset %d", name, offset)
	}
	size := int64(len(data))
	start := min(offset, size)
	end := size
	if length >= 0 && length < size-start {
		end = start + length
	}
	return io.NopCloser(bytes.NewReader(bytes.Clone(data[start:end]))), nil
}

// Stat reports the current version.
func (s *Versioned) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	if err := check(ctx, "stat", name); err != nil {
		return storage.ObjectInfo{}, err
	}
	s.mu.Lock()
	v, ok := s.current(name)
	s.mu.Unlock()
	if !ok {
		return storage.ObjectInfo{}, notFound("stat", name)
	}
	return storage.ObjectInfo{Name: name, Size: int64(len(v.data)), ModTime: v.modTime}, nil
}

// sortedNames returns the names under prefix; callers hold s.mu.
func (s *Versioned) sortedNames(prefix string) []string {
	var names []string
	for name := range s.objects {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// List reports the current versions under prefix, sorted by name, calling
// fn without holding the lock.
func (s *Versioned) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	if err := storage.ValidPrefix(prefix); err != nil {
		return fmt.Errorf("mem: list: %w", err)
	}
	var infos []storage.ObjectInfo
	s.mu.Lock()
	for _, name := range s.sortedNames(prefix) {
		if v, ok := s.current(name); ok {
			infos = append(infos, storage.ObjectInfo{Name: name, Size: int64(len(v.data)), ModTime: v.modTime})
		}
	}
	s.mu.Unlock()
	for _, fi := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mem: list %q: %w", prefix, err)
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete adds a delete marker; deleting a missing object is not an error.
func (s *Versioned) Delete(ctx context.Context, name string) error {
	if err := check(ctx, "delete", name); err != nil {
		return err
	}
	s.Hide(name)
	return nil
}

// Versioning reports what SetVersioning last set (on at first).
func (s *Versioned) Versioning(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("mem: versioning: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.off, nil
}

// ListVersions reports every version under prefix: names sorted, versions
// of one name newest first.
func (s *Versioned) ListVersions(ctx context.Context, prefix string, fn func(storage.VersionInfo) error) error {
	if err := storage.ValidPrefix(prefix); err != nil {
		return fmt.Errorf("mem: list versions: %w", err)
	}
	var infos []storage.VersionInfo
	s.mu.Lock()
	for _, name := range s.sortedNames(prefix) {
		vs := s.objects[name]
		for i := len(vs) - 1; i >= 0; i-- {
			infos = append(infos, storage.VersionInfo{
				Name: name, VersionID: vs[i].id, Size: int64(len(vs[i].data)), ModTime: vs[i].modTime,
				IsLatest: i == len(vs)-1, DeleteMarker: vs[i].marker,
			})
		}
	}
	s.mu.Unlock()
	for _, vi := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mem: list versions %q: %w", prefix, err)
		}
		if err := fn(vi); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// find returns the index of versionID of name, or -1; callers hold s.mu.
func (s *Versioned) find(name, versionID string) int {
	return slices.IndexFunc(s.objects[name], func(v version) bool { return v.id == versionID })
}

// GetVersion reads one version; a delete marker or an unknown ID gives
// storage.ErrNotFound.
func (s *Versioned) GetVersion(ctx context.Context, name, versionID string, offset, length int64) (io.ReadCloser, error) {
	if err := check(ctx, "get", name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	i := s.find(name, versionID)
	var v version
	if i >= 0 {
		v = s.objects[name][i]
	}
	s.mu.Unlock()
	if i < 0 || v.marker {
		return nil, notFound("get", name+" version "+versionID)
	}
	return readRange(name, v.data, offset, length)
}

// RestoreVersion copies versionID onto name as a new current version.
func (s *Versioned) RestoreVersion(ctx context.Context, name, versionID string) error {
	if err := check(ctx, "restore", name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(name, versionID)
	if i < 0 || s.objects[name][i].marker {
		return notFound("restore", name+" version "+versionID)
	}
	s.add(name, s.objects[name][i].data, false)
	return nil
}

// DeleteVersion removes one version for good; a missing one is not an
// error.
func (s *Versioned) DeleteVersion(ctx context.Context, name, versionID string) error {
	if err := check(ctx, "delete", name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.find(name, versionID); i >= 0 {
		s.objects[name] = slices.Delete(s.objects[name], i, i+1)
		if len(s.objects[name]) == 0 {
			delete(s.objects, name)
		}
	}
	return nil
}
