package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// publish makes the complete, synced temporary file tmp visible under
// target without ever replacing an existing target: if target exists it
// fails with an error wrapping fs.ErrExist and leaves both files as they
// are. On success tmp no longer exists under its own name (see
// removeTemp for the one exception).
//
// Which primitive it uses depends on what the file system offers, best
// first:
//
//  1. renameat2(RENAME_NOREPLACE) (Linux, see publish_linux.go): one atomic
//     step, and it works on FAT32 and exFAT, which have no hard links;
//  2. link(2) of tmp to target, then unlink of tmp: atomic and refusing an
//     existing target on every Unix, NFS and NTFS;
//  3. where neither is supported, a check for target followed by a plain
//     rename. Two processes racing to create the same name can then both
//     succeed, the second replacing the first; cairn's names are content
//     hashes or unique per writer, so both wrote the same bytes.
func publish(tmp, target string) error {
	err := renameNoReplace(tmp, target)
	if !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return linkNoReplace(tmp, target)
}

// linkNoReplace is steps 2 and 3 of publish.
func linkNoReplace(tmp, target string) error {
	err := os.Link(tmp, target)
	if err == nil {
		removeTemp(tmp)
		return nil
	}
	if errors.Is(err, fs.ErrExist) || !linkUnsupported(err) {
		return err
	}
	switch _, serr := os.Lstat(target); {
	case serr == nil:
		return &os.LinkError{Op: "rename", Old: tmp, New: target, Err: fs.ErrExist}
	case !isNotExist(serr):
		return serr
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("no hard links here, so: %w", err)
	}
	return nil
}

// removeTemp removes the temporary name of a file that is also linked
// under its final name. Should that fail, the temporary name stays behind
// as a stale temporary file, which RemoveStaleTemps deletes later; the
// object itself is complete either way.
func removeTemp(tmp string) { _ = os.Remove(tmp) }
