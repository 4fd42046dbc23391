package local

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MinTempAge is the age below which a temporary file is never removed: it
// may belong to a Put still running, in this process or another one
// writing to the same directory. Put writes and syncs a 16 MiB pack in
// well under a second on any disk, and a file's modification time moves
// with every chunk written, so an hour is far beyond what a live Put needs.
// A process suspended for longer in the middle of a Put loses that one
// upload (publishing it fails, and the backup with it), never data that
// was already stored.
const MinTempAge = time.Hour

// tempNameLen is the length of the names createTemp makes: the prefix and
// 16 hex digits.
const tempNameLen = len(tempPrefix) + 16

// isTempName reports whether base is a name createTemp makes. Only those
// are ever removed; anything else a user keeps in the directory is left
// alone.
func isTempName(base string) bool {
	if len(base) != tempNameLen || !strings.HasPrefix(base, tempPrefix) {
		return false
	}
	_, err := hex.DecodeString(base[len(tempPrefix):])
	return err == nil && strings.ToLower(base) == base
}

func (s *Store) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// StaleTemps counts the temporary files of interrupted Puts older than
// MinTempAge, and their bytes, without removing any.
func (s *Store) StaleTemps(ctx context.Context) (int, int64, error) {
	return s.staleTemps(ctx, MinTempAge, false)
}

// RemoveStaleTemps removes the temporary files of interrupted Puts last
// modified more than olderThan ago (never less than MinTempAge ago), and
// reports how many it removed and their bytes. A file that vanishes
// meanwhile (another process cleaning up) is not an error.
func (s *Store) RemoveStaleTemps(ctx context.Context, olderThan time.Duration) (int, int64, error) {
	return s.staleTemps(ctx, max(olderThan, MinTempAge), true)
}

func (s *Store) staleTemps(ctx context.Context, olderThan time.Duration, remove bool) (n int, size int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("local: temporary files: %w", err)
	}
	if err := s.checkRoot(); err != nil {
		return 0, 0, fmt.Errorf("local: temporary files: %w", err)
	}
	cutoff := s.clock().Add(-olderThan)
	walk := func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if isNotExist(err) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if path == s.root {
			return nil
		}
		if d.IsDir() {
			if !isObjectSegment(d.Name()) {
				return fs.SkipDir // not ours ("System Volume Information")
			}
			return nil
		}
		if !d.Type().IsRegular() || !isTempName(d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if isNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fi.ModTime().Before(cutoff) {
			return nil
		}
		if remove {
			if err := os.Remove(path); err != nil {
				if isNotExist(err) {
					return nil
				}
				return err
			}
		}
		n++
		size += fi.Size()
		return nil
	}
	if err := filepath.WalkDir(s.root, walk); err != nil {
		if ctx.Err() != nil {
			return n, size, fmt.Errorf("local: temporary files: %w", err)
		}
		return n, size, s.writeErr("remove", "stale temporary files", err)
	}
	return n, size, nil
}

// cleanOnce removes stale temporary files on the first Put of the Store:
// a process that writes is also the one that cleans up after earlier,
// killed ones. It costs one walk of the directory tree per Store, about as
// much as listing it, and its failures are ignored: the debris is harmless
// and the Put that follows reports any real problem with the directory.
func (s *Store) cleanOnce(ctx context.Context) {
	s.cleanMu.Lock()
	defer s.cleanMu.Unlock()
	if s.cleaned {
		return
	}
	s.cleaned = true
	_, _, _ = s.RemoveStaleTemps(ctx, MinTempAge)
}
