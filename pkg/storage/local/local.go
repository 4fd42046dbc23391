package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
)

var (
	_ storage.Store          = (*Store)(nil)
	_ storage.Creator        = (*Store)(nil)
	_ storage.PutConcurrency = (*Store)(nil)
	_ storage.TempCleaner    = (*Store)(nil)
)

// tempPrefix starts the names of temporary files written by Put.
const tempPrefix = ".tmp-"

// dirPerm is used for directories Put and Create make. Failures to apply it
// (FAT32 has no permissions) do not matter.
const dirPerm = 0o700

// Store is a storage.Store backed by a directory. It is safe for concurrent
// use, also by several processes.
type Store struct {
	root string // absolute path of the repository directory

	// now is the clock that decides which temporary files are stale; nil
	// means time.Now. Tests move it forward instead of waiting an hour.
	now func() time.Time
	// writeHook, when set, is called before each chunk Put writes, with
	// the bytes written so far. Tests use it to slow a Put down and kill
	// the process in the middle.
	writeHook func(written int64)

	cleanMu sync.Mutex
	cleaned bool // the first Put has removed stale temporary files
}

// New returns a store for the repository in dir. It does not touch the file
// system: a missing dir is reported by the operations (storage.ErrNoRepository)
// and created by Create.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("local: empty repository path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local: repository path %s: %w", dir, err)
	}
	return &Store{root: abs}, nil
}

// concurrentPuts is what ConcurrentPuts returns. A disk writes two streams
// no faster than one, and each pending upload costs a backup a 16 MiB pack
// of memory. One Put at a time, with the pack's hashing, moves about
// 1 GB/s on tmpfs, twice what a two-core backup produces; measured against
// two, backups took as long and peaked 20-30 MB lower.
const concurrentPuts = 1

// ConcurrentPuts returns the number of concurrent Puts worth running.
func (s *Store) ConcurrentPuts() int { return concurrentPuts }

// Dir returns the absolute path of the repository directory.
func (s *Store) Dir() string { return s.root }

// Create makes the repository directory and its parents if needed.
func (s *Store) Create(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: create %s: %w", s.root, err)
	}
	if err := os.MkdirAll(s.root, dirPerm); err != nil {
		return s.writeErr("create", s.root, err)
	}
	return nil
}

// path returns the file path of a valid object name.
func (s *Store) path(name string) string {
	return filepath.Join(s.root, filepath.FromSlash(name))
}

// check applies the checks common to every operation on one object.
func check(ctx context.Context, op, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: %s %s: %w", op, name, err)
	}
	if err := validName(name); err != nil {
		return fmt.Errorf("local: %s: %w", op, err)
	}
	return nil
}

// validName adds to storage.ValidName the rule that no segment may look like
// a temporary file.
func validName(name string) error {
	if err := storage.ValidName(name); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(seg, tempPrefix) {
			return fmt.Errorf("%w: %q: segments starting with %q are reserved for temporary files",
				storage.ErrInvalidName, name, tempPrefix)
		}
	}
	return nil
}

// Get opens the object and returns a reader over the requested range.
func (s *Store) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := check(ctx, "get", name); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("local: get %s: negative offset %d", name, offset)
	}
	f, err := os.Open(s.path(name))
	if err != nil {
		return nil, s.readErr("get", name, err)
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = fmt.Errorf("%s is a directory: %w", f.Name(), fs.ErrNotExist)
	}
	if err == nil && offset > 0 {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, s.readErr("get", name, err)
	}
	var r io.Reader = f
	remaining := max(fi.Size()-offset, 0)
	if length >= 0 {
		r = io.LimitReader(f, length)
		remaining = min(remaining, length)
	}
	return &fileReader{ctx: ctx, r: r, f: f, remaining: remaining}, nil
}

// fileReader stops reading once its context is done, so that a cancelled
// restore does not keep reading large packs.
type fileReader struct {
	ctx       context.Context
	r         io.Reader
	f         *os.File
	remaining int64 // by the size at open; see storage.Sized
}

func (r *fileReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, fmt.Errorf("local: read %s: %w", r.f.Name(), err)
	}
	n, err := r.r.Read(p)
	r.remaining = max(r.remaining-int64(n), 0)
	return n, err
}

// Remaining is the file's size at open less the bytes read (a file that
// grows meanwhile delivers more, which the caller's limiter bounds).
func (r *fileReader) Remaining() int64 { return r.remaining }

func (r *fileReader) Close() error { return r.f.Close() }

// Stat reports the file's size and modification time.
func (s *Store) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	if err := check(ctx, "stat", name); err != nil {
		return storage.ObjectInfo{}, err
	}
	fi, err := os.Stat(s.path(name))
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file: %w", s.path(name), fs.ErrNotExist)
	}
	if err != nil {
		return storage.ObjectInfo{}, s.readErr("stat", name, err)
	}
	return storage.ObjectInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the object's file. A missing object, or a name that is a
// directory (a prefix of other objects), is not an error.
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := check(ctx, "delete", name); err != nil {
		return err
	}
	p := s.path(name)
	fi, err := os.Lstat(p)
	if err == nil {
		if fi.IsDir() {
			return nil
		}
		err = os.Remove(p)
	}
	if err == nil {
		return nil
	}
	if isNotExist(err) {
		if rerr := s.checkRoot(); rerr != nil {
			return fmt.Errorf("local: delete %s: %w", name, rerr)
		}
		return nil
	}
	return s.writeErr("delete", name, err)
}

// isNotExist reports errors meaning "no such file", including a path
// component that is a file (object "a" exists, "a/b" is asked for).
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
