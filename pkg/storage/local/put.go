package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// writeChunk bounds how much Put writes between checks of its context.
const writeChunk = 8 << 20

// Put writes data to a temporary file next to the target, syncs it and
// publishes it under the target name without replacing anything (see
// publish), so that the object appears complete or not at all, and an
// existing object is never changed: a Put of an existing name fails with
// an error wrapping storage.ErrExists. The first Put of a Store also
// removes stale temporary files left by interrupted Puts (see
// RemoveStaleTemps).
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	if err := check(ctx, "put", name); err != nil {
		return err
	}
	s.cleanOnce(ctx)
	target := s.path(name)
	dir := filepath.Dir(target)
	f, err := createTemp(dir)
	if isNotExist(err) {
		// Never create the repository itself: that is what Create is
		// for, and a missing root usually means a wrong path or an
		// unmounted drive.
		if rerr := s.checkRoot(); rerr != nil {
			return fmt.Errorf("local: put %s: %w", name, rerr)
		}
		if err := mkdirs(dir); err != nil {
			return s.writeErr("put", name, err)
		}
		f, err = createTemp(dir)
	}
	if err != nil {
		return s.writeErr("put", name, err)
	}
	tmp := f.Name()
	if err := s.writeSync(ctx, f, data); err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return fmt.Errorf("local: put %s: %w", name, err)
		}
		return s.writeErr("put", name, err)
	}
	if err := ctx.Err(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("local: put %s: %w", name, err)
	}
	if err := publish(tmp, target); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Stat(target); serr == nil && fi.IsDir() {
				return fmt.Errorf("local: put %s: %s is a directory (a prefix of other objects)", name, target)
			}
			return fmt.Errorf("%w: local: put %s: %w", storage.ErrExists, name, err)
		}
		return s.writeErr("put", name, err)
	}
	if err := syncDir(dir); err != nil {
		return s.writeErr("put", name, err)
	}
	return nil
}

// createTemp creates a new temporary file in dir. It does not use
// os.CreateTemp because List recognises temporary files by their name.
func createTemp(dir string) (*os.File, error) {
	for {
		var b [8]byte
		rand.Read(b[:]) // never fails; see crypto/rand.Read
		p := filepath.Join(dir, tempPrefix+hex.EncodeToString(b[:]))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // 64 random bits collided; try another name
		}
		return f, err
	}
}

// writeSync writes data to f, flushes it to stable storage and closes f.
func (s *Store) writeSync(ctx context.Context, f *os.File, data []byte) error {
	var err error
	var written int64
	for len(data) > 0 && err == nil {
		if err = ctx.Err(); err != nil {
			break
		}
		if s.writeHook != nil {
			s.writeHook(written)
		}
		n := min(len(data), writeChunk)
		_, err = f.Write(data[:n])
		data = data[n:]
		written += int64(n)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirs creates dir and its missing parents, and syncs the parent of each
// directory it created so that the new entries survive a crash.
func mkdirs(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	for _, d := range missing {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// syncDir flushes a directory's entries (a rename or a new file) to stable
// storage. File systems that cannot sync directories are not an error:
// there is nothing better to do on them.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// Directories cannot be opened for syncing; NTFS journals
		// metadata and FAT offers no way to ask.
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTTY) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
