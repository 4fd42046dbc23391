package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// checkRoot returns an error wrapping storage.ErrNoRepository when the
// repository directory is missing or not a directory, and nil otherwise
// (including when it cannot tell, so that the caller reports its own error).
func (s *Store) checkRoot() error {
	fi, err := os.Stat(s.root)
	switch {
	case isNotExist(err):
		return fmt.Errorf("%w: directory %s does not exist (create it with init, or check that the drive is mounted)",
			storage.ErrNoRepository, s.root)
	case err != nil:
		return nil
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory", storage.ErrNoRepository, s.root)
	}
	return nil
}

// readErr translates an error from reading the object name (Get, Stat).
// "No such file" means a missing object, unless the whole repository is
// missing.
func (s *Store) readErr(op, name string, err error) error {
	if isNotExist(err) {
		if rerr := s.checkRoot(); rerr != nil {
			return fmt.Errorf("local: %s %s: %w", op, name, rerr)
		}
		return fmt.Errorf("%w: local: %s %s: %w", storage.ErrNotFound, op, name, err)
	}
	return s.writeErr(op, name, err)
}

// writeErr translates errors other than "no such file".
func (s *Store) writeErr(op, name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: local: %s %s: %w", storage.ErrPermission, op, name, err)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: local: %s %s: read-only file system: %w", storage.ErrPermission, op, name, err)
	case isDiskFull(err):
		return fmt.Errorf("local: %s %s: disk full, free some space on the drive holding %s: %w", op, name, s.root, err)
	case errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("local: %s %s: disk quota exceeded on %s: %w", op, name, s.root, err)
	}
	return fmt.Errorf("local: %s %s: %w", op, name, err)
}
