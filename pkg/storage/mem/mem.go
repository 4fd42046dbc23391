package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
)

var _ storage.Store = (*Store)(nil)

// Store is an in-memory storage.Store. The zero value is not usable; call
// New. It is safe for concurrent use.
type Store struct {
	mu      sync.RWMutex
	objects map[string]object
}

type object struct {
	data    []byte // never modified after Put; replaced only by Replace
	modTime time.Time
}

// New returns an empty in-memory store.
func New() *Store {
	return &Store{objects: make(map[string]object)}
}

// check applies the checks common to every operation on one object.
func check(ctx context.Context, op, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mem: %s %s: %w", op, name, err)
	}
	if err := storage.ValidName(name); err != nil {
		return fmt.Errorf("mem: %s: %w", op, err)
	}
	return nil
}

func notFound(op, name string) error {
	return fmt.Errorf("mem: %s %s: %w", op, name, storage.ErrNotFound)
}

// Put stores a copy of data under name, or fails with storage.ErrExists
// if name exists.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	if err := check(ctx, "put", name); err != nil {
		return err
	}
	obj := newObject(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[name]; ok {
		return fmt.Errorf("mem: put %s: %w", name, storage.ErrExists)
	}
	s.objects[name] = obj
	return nil
}

// Replace stores a copy of data under name whether or not it exists. It is
// for tests of damage (an attacker or a bad disk overwriting an object):
// the storage contract forbids it to Put, and no code outside tests may
// call it.
func (s *Store) Replace(name string, data []byte) error {
	if err := storage.ValidName(name); err != nil {
		return fmt.Errorf("mem: replace: %w", err)
	}
	s.mu.Lock()
	s.objects[name] = newObject(data)
	s.mu.Unlock()
	return nil
}

func newObject(data []byte) object {
	obj := object{data: bytes.Clone(data), modTime: time.Now()}
	if obj.data == nil {
		obj.data = []byte{}
	}
	return obj
}

// Get returns a reader over a copy of the requested range.
func (s *Store) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := check(ctx, "get", name); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("mem: get %s: negative offset %d", name, offset)
	}
	s.mu.RLock()
	obj, ok := s.objects[name]
	s.mu.RUnlock()
	if !ok {
		return nil, notFound("get", name)
	}
	data := obj.data
	size := int64(len(data))
	start := min(offset, size)
	end := size
	if length >= 0 && length < size-start {
		end = start + length
	}
	return sizedReader{bytes.NewReader(bytes.Clone(data[start:end]))}, nil
}

// Stat reports the object's size and the time it was put.
func (s *Store) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	if err := check(ctx, "stat", name); err != nil {
		return storage.ObjectInfo{}, err
	}
	s.mu.RLock()
	obj, ok := s.objects[name]
	s.mu.RUnlock()
	if !ok {
		return storage.ObjectInfo{}, notFound("stat", name)
	}
	return storage.ObjectInfo{Name: name, Size: int64(len(obj.data)), ModTime: obj.modTime}, nil
}

// List reports the objects whose names start with prefix, sorted by name.
// It takes a snapshot under the lock and calls fn without holding it, so fn
// may use the store.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mem: list %q: %w", prefix, err)
	}
	if err := storage.ValidPrefix(prefix); err != nil {
		return fmt.Errorf("mem: list: %w", err)
	}
	s.mu.RLock()
	var infos []storage.ObjectInfo
	for name, obj := range s.objects {
		if strings.HasPrefix(name, prefix) {
			infos = append(infos, storage.ObjectInfo{Name: name, Size: int64(len(obj.data)), ModTime: obj.modTime})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(infos, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
	for _, fi := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mem: list %q: %w", prefix, err)
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the object; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := check(ctx, "delete", name); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.objects, name)
	s.mu.Unlock()
	return nil
}

// sizedReader is a reader over a copy of the object that tells how much is
// left (storage.Sized).
type sizedReader struct{ *bytes.Reader }

func (r sizedReader) Remaining() int64 { return int64(r.Len()) }

func (sizedReader) Close() error { return nil }
